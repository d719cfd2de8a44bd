"""The row-batched softmax (`loss="row_softmax"`, model.rows): its steps, its value by hand,
and that it learns."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from model.dmf import gather_bags
from model.recommender import DMF
from model.rows import row_batches, row_softmax_loss
from tests.test_dmf import FAST, two_groups
from tests.test_dmf_softmax import _lto_vectors

ROWS = {**FAST, "loss": "row_softmax", "temperature": 0.1}


def test_an_epoch_takes_every_buyer_once_in_steps_of_about_the_positives_asked():
    x = sp.lil_matrix(two_groups())
    x[7, :] = 0  # no purchase: nothing to learn from
    x = sp.csr_matrix(x)
    batches = row_batches(x, 40, np.random.default_rng(3))
    assert sorted(np.concatenate(batches).tolist()) == [u for u in range(60) if u != 7]
    sizes = [int(np.diff(x.indptr)[b].sum()) for b in batches]
    longest = int(np.diff(x.indptr).max())
    assert all(s < 40 + longest for s in sizes) and sum(sizes) == x.nnz


def test_row_softmax_loss_by_hand():
    """Each purchase (i, j): its leave-target-out cosine against the candidates i never
    bought, those scored from i's whole row."""
    model = DMF(**{**ROWS, "epochs": 2}).fit(two_groups(), progress=False)
    m, net = model.matrix, model.net.eval()
    cols = m.T.tocsr()
    customers = np.array([4, 40])
    buyable = np.array([1, 3, 21, 25, 33])
    with torch.no_grad():
        got = row_softmax_loss(net, m, cols, customers, np.random.default_rng(0),
                               torch.device("cpu"), temperature=0.1, candidates=64,
                               buyable=buyable)
        q_c = F.normalize(net.item_tower(gather_bags(cols, buyable)), dim=-1)
        losses = []
        for u in customers:
            p_row = F.normalize(net.user_tower(gather_bags(m, np.array([u]))), dim=-1)[0]
            unbought = [c for c, k in enumerate(buyable) if m[u, k] == 0]
            for j in m[u].indices:
                p, q_pos = _lto_vectors(net, m, u, j)
                logits = torch.cat([(p @ q_pos)[None], q_c[unbought] @ p_row]) / 0.1
                losses.append(-torch.log_softmax(logits, dim=0)[0])
    assert any(m[u, k] for u in customers for k in buyable)  # some candidates are masked
    torch.testing.assert_close(got, torch.stack(losses).mean(), rtol=1e-5, atol=1e-6)


def test_row_softmax_learns_the_planted_taste_groups_deterministically():
    m = two_groups()
    a = DMF(**ROWS).fit(m, progress=False)
    assert a.history[-1]["loss"] < a.history[0]["loss"]
    scores = a.score(np.arange(60))
    top = np.argsort(-np.where(m.toarray() > 0, -np.inf, scores), axis=1)[:, :5]
    assert np.where(np.arange(60)[:, None] < 30, top < 20, top >= 20).mean() > 0.9
    b = DMF(**ROWS).fit(m, progress=False)
    np.testing.assert_array_equal(scores, b.score(np.arange(60)))
