"""A trained model on disk: weights (state_dict), training matrix, and JSON metadata.

weights.pt holds tensors only and is read with `weights_only=True`, so loading an artifact
never runs pickled code. meta.json carries the config, shapes, a version id, and whatever the
caller adds (customer and SKU maps, data window, metrics).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import scipy.sparse as sp
import torch

WEIGHTS, MATRIX, META = "weights.pt", "matrix.npz", "meta.json"


def new_version_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def write(path: Path, state: dict[str, torch.Tensor], matrix: sp.csr_matrix, meta: dict) -> None:
    """Write the three files; meta.json goes last (atomically), so its presence means complete."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in state.items()}, path / WEIGHTS)
    sp.save_npz(path / MATRIX, sp.csr_matrix(matrix))
    fd, tmp = tempfile.mkstemp(dir=path, prefix=".meta-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(meta, fh, indent=1, default=str)
    os.replace(tmp, path / META)


def read(path: Path) -> tuple[dict[str, torch.Tensor], sp.csr_matrix, dict[str, Any]]:
    path = Path(path)
    if not (path / META).is_file():
        raise FileNotFoundError(f"{path} holds no model (no {META})")
    meta = json.loads((path / META).read_text())
    state = torch.load(path / WEIGHTS, map_location="cpu", weights_only=True)
    matrix = sp.load_npz(path / MATRIX).tocsr()
    return state, matrix, meta
