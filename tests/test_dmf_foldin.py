"""Fold-in, growth and fine-tuning: what the live loop relies on."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from model.recommender import DMF
from tests.test_dmf import FAST, fresh, small_model


@pytest.fixture
def trained() -> DMF:
    return small_model()


def with_purchase(m: sp.csr_matrix, user: int, item: int, value: float = 1.0) -> sp.csr_matrix:
    out = m.tolil()
    out[user, item] = value
    return sp.csr_matrix(out)


def test_fold_in_equals_scoring_the_updated_row_and_trains_nothing(trained):
    m = trained.matrix
    before = [{k: v.clone() for k, v in net.state_dict().items()} for net in trained.nets]
    history = list(trained.history)
    updated = with_purchase(m, 0, 25)  # customer 0 buys from the other group
    row = updated[0]
    vector, items, scores = trained.fold_in(row, n=5)
    expected = trained.score(np.array([0]), updated)[0]
    expected[row.indices] = -np.inf
    order = np.argsort(-expected, kind="stable")[:5]
    np.testing.assert_allclose(scores, expected[order], rtol=1e-5)
    assert 25 not in items.tolist()
    # One unit vector: the members' (16 wide each) side by side.
    assert vector.shape == (16 * len(trained.nets),) and np.isclose(np.linalg.norm(vector), 1.0)
    np.testing.assert_allclose(scores, vector @ trained.item_vectors().numpy()[items].T,
                               rtol=1e-5)
    # Nothing was trained and the stored matrix is untouched.
    for net, old in zip(trained.nets, before, strict=True):
        for k, v in net.state_dict().items():
            assert torch.equal(v, old[k]), k
    assert trained.history == history
    assert trained.matrix[0, 25] == 0
    # recommend(row=...) is the same fold-in.
    rec_items, rec_scores = trained.recommend(0, n=5, row=row)
    np.testing.assert_array_equal(rec_items, items)
    np.testing.assert_array_equal(rec_scores, scores)


def test_fold_in_of_an_unchanged_row_is_the_stored_customer(trained):
    _, items, scores = trained.fold_in(trained.matrix[7], n=6, exclude=[0, 1])
    stored_items, stored_scores = trained.recommend(7, n=6, exclude=[0, 1])
    np.testing.assert_array_equal(items, stored_items)
    np.testing.assert_array_equal(scores, stored_scores)


def test_fold_in_many_is_each_row_folded_in_alone(trained):
    """The live loop folds a batch's customers in with one pass of the towers: every row gets
    what its own fold_in gives (an empty row too: the popular SKUs)."""
    m = with_purchase(trained.matrix, 3, 25)
    rows = sp.vstack([m[3], m[8], sp.csr_matrix((1, 40)), m[0],
                      sp.csr_matrix((np.ones(2), ([0, 0], [21, 22])), shape=(1, 40))]).tocsr()
    many = trained.fold_in_many(rows, n=7)
    assert len(many) == rows.shape[0]
    for k, (items, scores) in enumerate(many):
        _, alone_items, alone_scores = trained.fold_in(rows[k], n=7)
        np.testing.assert_allclose(scores, alone_scores, rtol=1e-5, atol=1e-6)
        assert not set(items.tolist()) & set(rows[k].indices.tolist())
        assert len(items) == len(alone_items)
        # The same SKUs, up to the order of ties (equal scores at float precision).
        np.testing.assert_allclose(trained.score(np.array([0]), rows[k])[0][items], scores,
                                   rtol=1e-5, atol=1e-6)
    assert trained.fold_in_many(sp.csr_matrix((0, 40)), n=5) == []


def test_a_brand_new_customer_gets_recommendations_from_their_first_order(trained):
    row = sp.csr_matrix((np.ones(2), ([0, 0], [21, 22])), shape=(1, 40))
    _, items, _ = trained.fold_in(row, n=5)
    assert {21, 22}.isdisjoint(items.tolist())
    assert np.mean(items >= 20) >= 0.8  # a group-B order brings group-B SKUs
    # An empty row still gets a (popularity-like) list, not NaN.
    _, items, scores = trained.fold_in(sp.csr_matrix((1, 40)), n=5)
    assert len(items) == 5 and np.all(np.isfinite(scores))


def test_growth_keeps_every_existing_score_bit_for_bit(trained):
    model = fresh(trained)
    before = model.score(np.arange(60))
    before_items = model.item_vectors().clone()
    model.add_items(3)
    model.add_users(2)
    assert (model.n_users, model.n_items) == (62, 43)
    assert model.net.user_tower.first.num_embeddings == 43
    assert model.net.item_tower.first.num_embeddings == 62
    after = model.score(np.arange(60))
    np.testing.assert_array_equal(after[:, :40], before)
    assert torch.equal(model.item_vectors()[:40], before_items)
    # The new customers can buy, including the new SKUs, and get lists at once.
    model.update_matrix(with_purchase(with_purchase(model.matrix, 60, 41), 60, 2))
    items, _ = model.recommend(60, n=5)
    assert not {41, 2} & set(items.tolist())
    # The grown model still trains.
    model.train_epochs(1, progress=False)
    assert np.isfinite(model.history[-1]["loss"])


def test_update_matrix_refuses_a_shape_the_model_was_not_grown_to(trained):
    model = fresh(trained)
    with pytest.raises(ValueError, match="grow it first"):
        model.update_matrix(sp.csr_matrix((61, 40)))


def test_fine_tuning_continues_from_the_current_weights(trained):
    model = fresh(trained)
    loss = model.history[-1]["loss"]
    model.train_epochs(3, progress=False, seed_offset=1)
    members = FAST["members"]
    assert len(model.history) == members * (FAST["epochs"] + 3)
    # Every member goes on counting its own epochs.
    assert [(h["member"], h["epoch"]) for h in model.history[-3 * members:]] == [
        (k, FAST["epochs"] + e) for k in range(1, members + 1) for e in (1, 2, 3)]
    assert model.history[-1]["loss"] <= loss * 1.2
    # A fine-tuned model keeps the planted structure.
    items, _ = model.recommend(0, n=5)
    assert np.mean(items < 20) >= 0.8
