"""The sampled-softmax objective: its groups, its value by hand, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from model.dmf import gather_bags
from model.logsumexp import masked_logsumexp
from model.recommender import DMF, DMFConfig
from model.softmax import epoch_groups, shared_steps, softmax_loss
from tests.test_dmf import FAST, two_groups

SOFT = {**FAST, "loss": "softmax", "temperature": 0.1}


def test_each_positive_gets_its_own_unobserved_negatives():
    m = two_groups()
    users, items, values, negs = epoch_groups(m, 5, np.random.default_rng(0))
    assert negs.shape == (m.nnz, 5) and len(users) == len(items) == len(values) == m.nnz
    assert np.all(np.asarray(m[users, items]).ravel() == values) and values.min() > 0
    assert not np.asarray(m[np.repeat(users, 5), negs.ravel()]).any()  # never bought
    assert sorted(zip(users.tolist(), items.tolist(), strict=True)) == sorted(
        zip(*m.nonzero(), strict=True))


def test_softmax_loss_by_hand():
    model = DMF(**{**SOFT, "epochs": 2}).fit(two_groups(), progress=False)
    m, net = model.matrix, model.net.eval()
    u, j = 4, int(model.matrix[4].indices[0])
    negs = np.array([[25, 33, 39]])
    cols = m.T.tocsr()
    with torch.no_grad():
        got = softmax_loss(net, m, cols, np.array([u]), np.array([j]),
                           np.array([m[u, j]], np.float32), negs, torch.device("cpu"), 0.1)
        without = m.tolil()
        without[u, j] = 0
        without = sp.csr_matrix(without)
        without.eliminate_zeros()
        p = F.normalize(net.user_tower(gather_bags(without, np.array([u]))), dim=-1)[0]
        q_pos = F.normalize(net.item_tower(gather_bags(without.T.tocsr(), np.array([j]))),
                            dim=-1)[0]
        q_neg = F.normalize(net.item_tower(gather_bags(cols, negs[0])), dim=-1)
        logits = torch.cat([(p @ q_pos)[None], q_neg @ p]) / 0.1
        expected = -torch.log_softmax(logits, dim=0)[0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_softmax_learns_the_planted_taste_groups_and_is_deterministic():
    m = two_groups()
    a = DMF(**SOFT).fit(m, progress=False)
    assert a.history[-1]["loss"] < a.history[0]["loss"]
    scores = a.score(np.arange(60))
    top = np.argsort(-np.where(m.toarray() > 0, -np.inf, scores), axis=1)[:, :5]
    own = np.where(np.arange(60)[:, None] < 30, top < 20, top >= 20)
    assert own.mean() > 0.9
    b = DMF(**SOFT).fit(m, progress=False)
    np.testing.assert_array_equal(a.score(np.arange(60)), b.score(np.arange(60)))


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature"):
        DMFConfig(loss="softmax", temperature=0.0)
    with pytest.raises(ValueError, match="loss"):
        DMFConfig(loss="softmax2")


def test_binary_inputs_ignore_purchase_values():
    m = two_groups()  # values 1..5
    model = DMF(**{**SOFT, "epochs": 2, "input_values": "binary"}).fit(m, progress=False)
    assert set(model.matrix.data.tolist()) == {1.0}
    row = m[0].copy()
    row.data[:] = 7.0
    np.testing.assert_array_equal(model.fold_in(row, n=5)[1], model.recommend(0, n=5)[0])
    with pytest.raises(ValueError, match="input_values"):
        DMFConfig(input_values="log")


def test_large_shops_get_larger_batches_so_an_epoch_has_bounded_steps():
    m = two_groups()  # 360 purchases -> 1,440 scored pairs an epoch with 3 negatives each
    capped = DMF(**{**SOFT, "batch_size": 64, "max_steps_per_epoch": 4, "epochs": 1})
    capped.fit(m, progress=False)
    assert capped.batch_samples() == 360  # 90 purchases and their negatives
    assert capped.history[0]["steps"] == 4
    free = DMF(**{**SOFT, "batch_size": 64, "max_steps_per_epoch": 0, "epochs": 1})
    free.fit(m, progress=False)
    assert free.batch_samples() == 64 and free.history[0]["steps"] == 23  # 360 / (64 // 4)
    with pytest.raises(ValueError, match="max_steps_per_epoch"):
        DMFConfig(max_steps_per_epoch=-1)
    # ... but a step never grows past max_step_samples: its memory follows its size.
    bounded = DMF(**{**SOFT, "batch_size": 64, "max_steps_per_epoch": 4, "epochs": 1,
                     "max_step_samples": 120})
    bounded.fit(m, progress=False)
    assert bounded.batch_samples() == 120 and bounded.history[0]["steps"] == 12  # 360 / 30
    with pytest.raises(ValueError, match="max_step_samples"):
        DMFConfig(max_step_samples=-1)



def _lto_vectors(net, m, u, j):
    """p_u from u's row without j, q_j from j's column without u (leave-target-out)."""
    without = m.tolil()
    without[u, j] = 0
    without = sp.csr_matrix(without)
    without.eliminate_zeros()
    p = F.normalize(net.user_tower(gather_bags(without, np.array([u]))), dim=-1)[0]
    q = F.normalize(net.item_tower(gather_bags(without.T.tocsr(), np.array([j]))), dim=-1)[0]
    return p, q


@pytest.mark.parametrize("most", [64, 3])
def test_shared_negatives_loss_by_hand(most):
    """Each positive is scored against every SKU drawn in the step (the first `most`
    distinct draws), minus those its customer bought."""
    model = DMF(**{**SOFT, "epochs": 2}).fit(two_groups(), progress=False)
    m, net = model.matrix, model.net.eval()
    cols = m.T.tocsr()
    users = np.array([4, 40])
    items = np.array([int(m[4].indices[0]), int(m[40].indices[1])])
    negs = np.array([[25, 33, 3], [3, 1, 21]])  # 3 was drawn twice; 25, 33 unbought by 4
    with torch.no_grad():
        got = softmax_loss(net, m, cols, users, items,
                           np.asarray(m[users, items], np.float32).ravel(), negs,
                           torch.device("cpu"), 0.1, shared=most)
        cand = [25, 33, 3, 1, 21][:most]
        q_c = F.normalize(net.item_tower(gather_bags(cols, np.array(cand))), dim=-1)
        losses = []
        for u, j in zip(users, items, strict=True):
            p, q_pos = _lto_vectors(net, m, u, j)
            unbought = [c for c, k in enumerate(cand) if m[u, k] == 0]
            logits = torch.cat([(p @ q_pos)[None], q_c[unbought] @ p]) / 0.1
            losses.append(-torch.log_softmax(logits, dim=0)[0])
    assert any(m[4, k] for k in cand) or any(m[40, k] for k in cand)  # some are masked
    torch.testing.assert_close(got, torch.stack(losses).mean(), rtol=1e-5, atol=1e-6)


def test_shared_negatives_learn_the_taste_groups_deterministically():
    m = two_groups()
    a = DMF(**{**SOFT, "shared_negatives": 16}).fit(m, progress=False)
    scores = a.score(np.arange(60))
    top = np.argsort(-np.where(m.toarray() > 0, -np.inf, scores), axis=1)[:, :5]
    assert np.where(np.arange(60)[:, None] < 30, top < 20, top >= 20).mean() > 0.9
    b = DMF(**{**SOFT, "shared_negatives": 16}).fit(m, progress=False)
    np.testing.assert_array_equal(scores, b.score(np.arange(60)))
    own = DMF(**{**SOFT, "shared_negatives": 0}).fit(m, progress=False)
    assert not np.array_equal(scores, own.score(np.arange(60)))
    with pytest.raises(ValueError, match="shared_negatives"):
        DMFConfig(shared_negatives=-1)


def _chain(p, q, rows, cols):
    """The plain autograd chain masked_logsumexp replaces."""
    mask = torch.zeros(p.shape[0], q.shape[0], dtype=torch.bool)
    mask[rows, cols] = True
    return torch.logsumexp((p @ q.T).masked_fill(mask, float("-inf")), dim=1)


def test_masked_logsumexp_has_the_chains_value_and_gradient():
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(6, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    q = torch.randn(9, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    rows = torch.tensor([0, 0, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5])  # row 5: every candidate bought
    cols = torch.tensor([1, 7, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    weights = torch.randn(6, dtype=torch.float64, generator=gen)
    got = masked_logsumexp(p, q, rows, cols)
    want = _chain(p, q, rows, cols)
    torch.testing.assert_close(got[:5], want[:5])
    assert got[5] == float("-inf") == want[5]
    # Gradients of a weighted sum of the finite rows (the -inf row contributes 0 gradient).
    (got[:5] * weights[:5]).sum().backward()
    gp, gq = p.grad.clone(), q.grad.clone()
    p.grad = q.grad = None
    (want[:5] * weights[:5]).sum().backward()
    torch.testing.assert_close(gp, p.grad)
    torch.testing.assert_close(gq, q.grad)
    assert torch.isfinite(gp).all() and gp[5].abs().sum() == 0


def test_masked_logsumexp_follows_bf16_autocast():
    gen = torch.Generator().manual_seed(1)
    p = (torch.randn(64, 16, generator=gen) * 3).requires_grad_()
    q = torch.randn(200, 16, generator=gen).requires_grad_()
    rows, cols = torch.tensor([0, 1, 2]), torch.tensor([5, 6, 7])
    with torch.autocast("cpu", torch.bfloat16):
        got = masked_logsumexp(p, q, rows, cols)
    got.sum().backward()
    assert got.dtype == torch.float32 and p.grad.dtype == q.grad.dtype == torch.float32
    want = _chain(p.detach(), q.detach(), rows, cols)
    torch.testing.assert_close(got.detach(), want, rtol=0.02, atol=0.2)


def test_shared_candidates_are_drawn_per_step_and_an_epoch_covers_every_purchase_once():
    m = two_groups()
    steps = list(shared_steps(m, 4, 100, np.random.default_rng(0)))
    assert [len(s[0]) for s in steps] == [100, 100, 100, 60]  # 360 purchases
    users = np.concatenate([s[0] for s in steps])
    items = np.concatenate([s[1] for s in steps])
    values = np.concatenate([s[2] for s in steps])
    assert sorted(zip(users.tolist(), items.tolist(), strict=True)) == sorted(
        zip(*m.nonzero(), strict=True))
    np.testing.assert_array_equal(values, np.asarray(m[users, items]).ravel())
    for u, _, _, negs in steps:
        assert negs.shape == (len(u), 4) and negs.min() >= 0 and negs.max() < m.shape[1]
    # The model's default epoch takes these steps (no epoch-wide negatives array).
    model = DMF(**{**SOFT, "shared_negatives": 16, "epochs": 1})
    model.set_matrix(m)
    batch = next(model.epoch_batches(np.random.default_rng(0)))
    assert len(batch) == 4 and batch[3].shape == (len(batch[0]), model.config.neg_ratio)
