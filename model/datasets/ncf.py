"""NCF leave-one-out files (He et al. 2017): `X.train.rating`, `X.test.rating`, `X.test.negative`.

The split and the 99 negatives come with the files and are used as given. Amazon Music has
348 given negatives that the user has in train: they stay, as in the published protocol, so
figures stay comparable with papers that used these files (it costs every model a little).
Train lines carry a timestamp in NCF's own ml-1m files (4th column) and none in Amazon Music:
then line order stands in for time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.interactions import Purchases

SUFFIXES = (".train.rating", ".test.rating", ".test.negative")


@dataclass
class NCFData:
    """Train log plus the given test item and negatives per test user (row k = user k's)."""

    train: Purchases
    test_users: np.ndarray
    test_items: np.ndarray
    negatives: np.ndarray  # [len(test_users), n_negatives]


def ncf_prefix(path: Path) -> Path:
    """`data/AMusic` from a folder holding one *.train.rating, a prefix, or one of the files."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.train.rating"))
        if not found:
            raise FileNotFoundError(f"{path} holds no *.train.rating file")
        return Path(str(found[0])[: -len(SUFFIXES[0])])
    name = str(path)
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return Path(name[: -len(suffix)])
    return path


def _read_ints(path: Path, min_cols: int) -> list[list[int]]:
    """Integer rows of a whitespace file; `(u,i)` keys are read as two ints."""
    rows = []
    with path.open() as fh:
        for n, line in enumerate(fh, 1):
            parts = line.replace("(", " ").replace(")", " ").replace(",", " ").split()
            if not parts:
                continue
            try:
                rows.append([int(float(p)) for p in parts])
            except ValueError:
                raise ValueError(f"{path}:{n}: expected integer ids") from None
            if len(rows[-1]) < min_cols:
                raise ValueError(f"{path}:{n}: expected at least {min_cols} columns")
    if not rows:
        raise ValueError(f"{path} holds no usable rows (empty)")
    return rows


def load_ncf(path: Path) -> NCFData:
    """Read the three files; check that the negatives' (user,item) keys match test.rating."""
    prefix = ncf_prefix(Path(path))
    files = [Path(f"{prefix}{s}") for s in SUFFIXES]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{f} is missing (NCF format needs all three files)")
    train_rows = _read_ints(files[0], 3)
    with_time = all(len(r) >= 4 for r in train_rows)
    train = np.array([r[:4] if with_time else r[:3] for r in train_rows], dtype=np.int64)
    test = np.array([r[:2] for r in _read_ints(files[1], 2)], dtype=np.int64)
    neg_rows = _read_ints(files[2], 3)
    if len({len(r) for r in neg_rows}) != 1:
        raise ValueError(f"{files[2]}: lines hold different numbers of negatives")
    neg = np.array(neg_rows, dtype=np.int64)
    if neg.shape[0] != test.shape[0] or not np.array_equal(neg[:, :2], test):
        raise ValueError(f"{files[2]}: (user,item) keys do not match {files[1]} line by line")
    users, items = train[:, 0], train[:, 1]
    rating = train[:, 2].astype(np.float64)
    when = train[:, 3] if with_time else np.arange(len(users))
    purchases = Purchases(users, items, rating, rating.copy(), when)
    return NCFData(purchases, test[:, 0], test[:, 1], neg[:, 2:])
