"""Purchases -> Interactions: aggregation, value schemes, returns, shared index."""

import numpy as np
import pytest

from model.interactions import Purchases


def _log() -> Purchases:
    return Purchases(
        customer_id=np.array(["a", "a", "b", "b", "a"], dtype=object),
        sku=np.array(["x", "x", "y", "x", "y"], dtype=object),
        qty=np.array([2, 1, 3, 1, -1]),  # the last line returns a's only y
        amount=np.array([20.0, 10.0, 9.0, 10.0, -3.0]),
        ordered_at=np.array([100, 300, 200, 50, 400]),
    )


def test_aggregates_per_pair_and_nets_returns():
    inter = _log().to_interactions(value="quantity")
    assert inter.user_ids.tolist() == ["a", "b"]
    assert inter.item_ids.tolist() == ["x", "y"]
    dense = inter.matrix.toarray()
    # a bought 3 x, returned nothing of it; a's y was 0 before the return: net -1, dropped.
    assert dense.tolist() == [[3.0, 0.0], [1.0, 3.0]]
    assert inter.last_at.toarray().tolist() == [[300, 0], [50, 200]]


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("binary", [[1, 0], [1, 1]]),
        ("log1p", [[np.log1p(3), 0], [np.log1p(1), np.log1p(3)]]),
        ("amount", [[30, 0], [10, 9]]),
    ],
)
def test_value_schemes(scheme, expected):
    dense = _log().to_interactions(value=scheme).matrix.toarray()
    np.testing.assert_allclose(dense, np.array(expected, dtype=np.float32), rtol=1e-6)


def test_fixed_index_drops_unknown_rows():
    log = _log()
    inter = log.to_interactions(value="binary", user_ids=np.array(["b"]), item_ids=np.array(["x"]))
    assert inter.shape == (1, 1)
    assert inter.matrix.toarray().tolist() == [[1.0]]
    assert inter.user_index("b") == 0 and inter.user_index("a") is None


def test_rejects_unknown_scheme_and_ragged_columns():
    with pytest.raises(ValueError, match="unknown value scheme"):
        _log().to_interactions(value="stars")
    with pytest.raises(ValueError, match="sku"):
        Purchases(np.array([1, 2]), np.array([1]), np.array([1, 1]), np.array([1, 1]),
                  np.array([1, 1]))
