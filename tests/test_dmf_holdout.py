"""The customer-batched held-out objective (`loss="holdout"`, model.holdout)."""

import numpy as np
import scipy.sparse as sp
import torch

from model.holdout import customer_batches, split_rows
from model.recommender import DMF
from tests.test_dmf import two_groups


def test_every_row_keeps_an_input_and_gets_a_target():
    x = sp.csr_matrix(two_groups())
    rng = np.random.default_rng(0)
    customers = np.arange(x.shape[0])
    for share in (0.01, 0.5, 0.99):
        sub, target = split_rows(x, customers, share, rng)
        owner = np.repeat(np.arange(len(customers)), np.diff(sub.indptr))
        per_row = np.bincount(owner[target], minlength=len(customers))
        assert (per_row >= 1).all() and (per_row <= np.diff(sub.indptr) - 1).all()
    sub, target = split_rows(x, customers, 0.5, rng)
    assert abs(target.mean() - 0.5) < 0.01  # 3 of each row's 6


def test_an_epoch_takes_each_trainable_customer_once():
    x = sp.lil_matrix(two_groups())
    x[5, :] = 0
    x[5, 0] = 1  # one purchase: nothing to hold out
    batches = customer_batches(sp.csr_matrix(x), 16, np.random.default_rng(1))
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == [u for u in range(x.shape[0]) if u != 5]
    assert max(len(b) for b in batches) == 16


def test_holdout_training_learns_the_planted_taste_groups():
    x = two_groups()
    model = DMF(user_layers=(32, 16), item_layers=(32, 16), device="cpu", members=1,
                loss="holdout", lr=1e-2, lr_schedule="constant", batch_customers=16,
                shared_negatives=64, epochs=30).fit(x, progress=False)
    same = 0
    for u in range(x.shape[0]):
        items, _ = model.recommend(u, 5)
        same += np.mean((items < 20) == (u < 30))
    assert same / x.shape[0] > 0.9


def test_a_warm_start_keeps_the_known_rows_and_gives_newcomers_fresh_ones():
    x = two_groups()
    cfg = dict(user_layers=(32, 16), item_layers=(32, 16), device="cpu", members=2,
               loss="holdout", lr=1e-2, batch_customers=16, shared_negatives=64, epochs=3)
    old = DMF(**cfg).fit(x, progress=False)
    # The new matrix: customers in reverse order plus 2 newcomers, SKUs as they were plus 1.
    users = np.concatenate([np.arange(x.shape[0])[::-1], [-1, -1]])
    items = np.concatenate([np.arange(x.shape[1]), [-1]])
    grown = sp.vstack([x[users[:-2]], sp.csr_matrix((2, x.shape[1]))])
    grown = sp.hstack([grown, sp.csr_matrix((grown.shape[0], 1))]).tocsr()
    new = DMF(**{**cfg, "epochs": 0, "seed": 7}).fit(grown, progress=False,
                                                      warm_start=(old, users, items))
    for a, b in zip(new.nets, old.nets, strict=True):
        wi, oi = a.item_tower.first.weight, b.item_tower.first.weight
        assert torch.equal(wi[: x.shape[0]], oi.flip(0))  # every known customer's row
        assert not torch.equal(wi[-1], oi[0])
        assert torch.equal(a.user_tower.first.weight[:-1], b.user_tower.first.weight)
        assert torch.equal(a.user_tower.mlp[0].weight, b.user_tower.mlp[0].weight)
    # Same weights, same rows: the known customers' lists are the old model's.
    assert np.array_equal(new.recommend(0, 5)[0], old.recommend(x.shape[0] - 1, 5)[0])
