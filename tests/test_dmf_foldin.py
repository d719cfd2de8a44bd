"""Fold-in and growth: what the live loop relies on."""

import numpy as np
import scipy.sparse as sp

from model.recommender import DMF
from tests.test_dmf import FAST, two_groups


def test_fold_in_equals_scoring_the_updated_row_and_trains_nothing():
    m = two_groups()
    model = DMF(**FAST).fit(m, progress=False)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    row = m[0].tolil()
    row[0, 25] = 1.0  # customer 0 buys from the other group
    row = sp.csr_matrix(row)
    vector, items, scores = model.fold_in(row, n=5)
    expected = model.score(np.array([0]), sp.vstack([row, m[1:]]).tocsr())[0]
    expected[row.indices] = -np.inf
    np.testing.assert_allclose(scores, np.sort(expected)[::-1][:5], rtol=1e-5)
    assert 25 not in items.tolist()
    for k, v in model.net.state_dict().items():
        assert (v == before[k]).all(), k
    assert vector.shape == (16,)


def test_a_brand_new_customer_gets_recommendations_from_their_first_order():
    m = two_groups()
    model = DMF(**{**FAST, "epochs": 25}).fit(m, progress=False)
    row = sp.csr_matrix((np.ones(2), ([0, 0], [21, 22])), shape=(1, 40))
    _, items, _ = model.fold_in(row, n=5)
    assert np.mean(items >= 20) >= 0.8  # a group-B order brings group-B SKUs


def test_growth_keeps_every_existing_score():
    m = two_groups()
    model = DMF(**FAST).fit(m, progress=False)
    before = model.score(np.arange(60))
    model.add_items(3)
    model.add_users(2)
    assert (model.n_users, model.n_items) == (62, 43)
    after = model.score(np.arange(60))
    np.testing.assert_array_equal(after[:, :40], before)
    # The new customers can now buy, including the new SKUs.
    grown = model.matrix.tolil()
    grown[60, 41] = 1.0
    grown[60, 2] = 1.0
    model.set_matrix(sp.csr_matrix(grown))
    items, _ = model.recommend(60, n=5)
    assert not {41, 2} & set(items.tolist())


def test_fine_tuning_continues_from_the_current_weights():
    m = two_groups()
    model = DMF(**FAST).fit(m, progress=False)
    loss = model.history[-1]["loss"]
    model.train_epochs(3, progress=False, seed_offset=1)
    assert len(model.history) == FAST["epochs"] + 3
    assert model.history[-1]["loss"] <= loss * 1.05
