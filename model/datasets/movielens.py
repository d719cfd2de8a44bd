"""MovieLens ratings: `u.data` (tab-separated) or `ratings.dat` (`::`-separated).

A rating becomes both quantity and amount, so every value scheme has a meaning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.interactions import Purchases


def load_movielens(path: Path) -> Purchases:
    path = Path(path)
    if path.is_dir():
        for name in ("u.data", "ratings.dat"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"{path} holds neither u.data nor ratings.dat")
    sep = "::" if path.read_bytes()[:4096].count(b"::") else "\t"
    rows = []
    with path.open() as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split(sep)
            if len(parts) < 4:
                raise ValueError(f"{path}:{n}: expected user, item, rating, timestamp")
            rows.append(parts[:4])
    if not rows:
        return Purchases(*(np.array([]) for _ in range(5)))
    arr = np.array(rows, dtype=np.int64)
    rating = arr[:, 2].astype(np.float64)
    return Purchases(arr[:, 0], arr[:, 1], rating, rating, arr[:, 3])
