"""Erasing one customer everywhere: the database and Redis (worker.forget), and the artifacts.

Artifacts: every retained version registered in ``model_versions`` is
scrubbed of every customer the database no longer holds (`scrub_artifacts`): the customer id
becomes a placeholder ``erased:<row>`` (indexes stay aligned; never published), their matrix
row and their first-layer weights in the item tower (the only weights that belong to one
customer) become zeros. Being stateless, the scrub needs no list of erased customers, which
would itself be a trace.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sqlalchemy import select

from storage.models import ModelVersion, Order
from worker import forget
from worker.runtime import ERASED, Runtime

log = logging.getLogger("dmfrec.worker")
ITEM_FIRST = "item_tower.first.weight"  # [n_users, width]: one row per customer


def erase(rt: Runtime, customer_id: str | None = None, email: str | None = None) -> dict:
    """Erase one customer (by id, or a guest by email) from the database, Redis and every
    retained artifact (`dmfrec erase`; the admin endpoint queues the scrub instead)."""
    summary = forget.erase_now(rt.engine, rt.redis, rt.policy, customer_id, email)
    summary["artifacts"] = scrub_artifacts(rt)
    return summary


def scrub_artifacts(rt: Runtime) -> int:
    """Rewrite every registered artifact on disk that still holds a customer the database
    does not (erased); returns how many artifacts were rewritten."""
    with rt.reading() as session:
        paths = [Path(p) for p in session.scalars(select(ModelVersion.artifact_path))]
        known = set(session.scalars(select(Order.customer_key).distinct()
                                    .where(Order.customer_key.is_not(None))))
    rewritten = 0
    for path in paths:
        meta_file = path / "meta.json"
        if not meta_file.is_file():
            continue
        meta = json.loads(meta_file.read_text())
        ids = [str(c) for c in meta.get("customer_ids") or []]
        gone = [k for k, c in enumerate(ids) if c not in known and not c.startswith(ERASED)]
        if gone:
            _rewrite(path, meta, gone)
            rewritten += 1
    return rewritten


def _rewrite(path: Path, meta: dict, rows: list[int]) -> None:
    """Blank customers `rows` in the artifact at `path`, one file at a time, each replaced
    atomically (a reader sees old or new files, both without the rows' data once done)."""
    state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
    index = torch.as_tensor(rows, dtype=torch.long)
    for name, tensor in state.items():
        if name.endswith(ITEM_FIRST):
            tensor[index] = 0
    matrix = sp.load_npz(path / "matrix.npz").tocsr()
    keep = np.ones(matrix.shape[0], dtype=np.float32)
    keep[rows] = 0
    matrix = sp.csr_matrix(sp.diags(keep) @ matrix)
    matrix.eliminate_zeros()
    ids = [str(c) for c in meta["customer_ids"]]
    for k in rows:
        ids[k] = f"{ERASED}{k}"
    meta = {**meta, "customer_ids": ids}
    _replace(path / "weights.pt", lambda f: torch.save(state, f))
    _replace(path / "matrix.npz", lambda f: sp.save_npz(f, matrix))
    _replace(path / "meta.json", lambda f: f.write(json.dumps(meta, indent=1).encode()))


def _replace(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-",
                               suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
