"""Loaders that turn files (or a seeded generator) into a `Purchases` log (or NCF split).

`load(path, fmt)` dispatches on the format name used by the CLI. Every loader raises
FileNotFoundError for a bad path and ValueError for a missing column or empty data.
"""

from __future__ import annotations

from pathlib import Path

from model.datasets.csv_purchases import load_csv
from model.datasets.movielens import load_movielens
from model.datasets.ncf import NCFData, load_ncf
from model.datasets.online_retail import load_online_retail
from model.datasets.synthetic import synthetic_shop
from model.interactions import Purchases

LOADERS = {
    "movielens": load_movielens,
    "ncf": load_ncf,
    "online-retail": load_online_retail,
    "csv": load_csv,
}
FORMATS = (*LOADERS, "synthetic")


def load(path: str | Path | None, fmt: str, seed: int = 0) -> Purchases | NCFData:
    """Load a data set in one of FORMATS (synthetic ignores `path` and uses `seed`)."""
    if fmt == "synthetic":
        return synthetic_shop(seed=seed)
    if fmt not in LOADERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if path is None:
        raise ValueError(f"--data is required for format {fmt!r}")
    path = Path(path)
    # NCF files may be named by their common prefix (data/AMusic for data/AMusic.train.rating).
    if not path.exists() and not (fmt == "ncf" and Path(f"{path}.train.rating").is_file()):
        raise FileNotFoundError(f"{path} does not exist")
    data = LOADERS[fmt](path)
    size = len(data.train) if isinstance(data, NCFData) else len(data)
    if size == 0:
        raise ValueError(f"{path} holds no usable rows for format {fmt!r}")
    return data


__all__ = ["FORMATS", "LOADERS", "NCFData", "load", "load_csv", "load_movielens", "load_ncf",
           "load_online_retail", "synthetic_shop"]
