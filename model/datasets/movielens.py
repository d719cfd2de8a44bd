"""MovieLens ratings: `u.data` (tab-separated) or `ratings.dat` (`::`-separated).

A rating becomes both quantity and amount, so every value scheme has a meaning; the rating
timestamp is the purchase time, so the leave-one-out and time protocols can split by it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.interactions import Purchases

FILES = ("u.data", "ratings.dat")


def find_ratings(path: Path) -> Path:
    """The ratings file itself, or the one inside a MovieLens folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        for name in FILES:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path} holds neither u.data nor ratings.dat")
    return path


def load_movielens(path: Path) -> Purchases:
    """Ratings as purchases: customer = user id, sku = item id (ints), qty = amount = rating."""
    path = find_ratings(path)
    sep = "::" if b"::" in path.read_bytes()[:4096] else "\t"
    rows = []
    with path.open(encoding="latin-1") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split(sep)
            try:
                if len(parts) < 4:
                    raise ValueError
                rows.append([int(p) for p in parts[:4]])
            except ValueError:
                raise ValueError(f"{path}:{n}: expected user, item, rating, timestamp "
                                 f"separated by {sep!r}") from None
    if not rows:
        raise ValueError(f"{path} holds no usable rows (no ratings)")
    arr = np.array(rows, dtype=np.int64)
    rating = arr[:, 2].astype(np.float64)
    return Purchases(arr[:, 0], arr[:, 1], rating, rating.copy(), arr[:, 3])
