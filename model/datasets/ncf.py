"""NCF leave-one-out files (He et al. 2017): `X.train.rating`, `X.test.rating`, `X.test.negative`.

The split and the 99 negatives come with the files and are used as given (Amazon Music has
348 given negatives that the user has in train; they stay, as in the published protocol).
Train lines have no timestamps; line order stands in for time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.interactions import Purchases


@dataclass
class NCFData:
    train: Purchases
    test_users: np.ndarray
    test_items: np.ndarray
    negatives: np.ndarray  # [len(test_users), 99]


def _prefix(path: Path) -> Path:
    if path.is_dir():
        found = sorted(path.glob("*.train.rating"))
        if not found:
            raise FileNotFoundError(f"{path} holds no *.train.rating file")
        return Path(str(found[0])[: -len(".train.rating")])
    name = str(path)
    for suffix in (".train.rating", ".test.rating", ".test.negative"):
        if name.endswith(suffix):
            return Path(name[: -len(suffix)])
    return path


def load_ncf(path: Path) -> NCFData:
    prefix = _prefix(Path(path))
    files = {s: Path(f"{prefix}.{s}") for s in ("train.rating", "test.rating", "test.negative")}
    for f in files.values():
        if not f.is_file():
            raise FileNotFoundError(f"{f} is missing (NCF format needs all three files)")
    train = np.loadtxt(files["train.rating"], dtype=np.float64, ndmin=2, usecols=(0, 1, 2))
    test = np.loadtxt(files["test.rating"], dtype=np.float64, ndmin=2, usecols=(0, 1))
    negatives = []
    with files["test.negative"].open() as fh:
        for line in fh:
            parts = line.split()
            if parts:
                negatives.append([int(x) for x in parts[1:]])
    users = train[:, 0].astype(np.int64)
    items = train[:, 1].astype(np.int64)
    purchases = Purchases(users, items, train[:, 2], train[:, 2], np.arange(len(users)))
    return NCFData(purchases, test[:, 0].astype(np.int64), test[:, 1].astype(np.int64),
                   np.array(negatives, dtype=np.int64))
