"""The item tower's customer-sized first layer factored as E P (`item_rank`)."""

import numpy as np
import scipy.sparse as sp
import torch

from model.dmf import DMFNetwork, gather_bags
from model.recommender import DMF
from model.training import batch_predictions
from tests.test_dmf import FAST, two_groups, vectors_without


def test_a_factored_first_layer_is_the_column_times_e_times_p():
    net = DMFNetwork(30, 20, (16, 8), (16, 8), item_rank=4)
    first = net.item_tower.first
    proj = net.item_tower.mlp[0]
    assert (first.num_embeddings, first.embedding_dim) == (30, 4)  # 4 floats per customer
    assert tuple(proj.weight.shape) == (16, 4) and proj.bias is None
    cols = sp.random(20, 30, density=0.3, random_state=2, format="csr", dtype=np.float32)
    bags = gather_bags(cols, np.arange(20))
    w = first.weight @ proj.weight.T  # the full-width layer it stands for: [customers, 16]
    dense = torch.from_numpy(cols.toarray()) @ w
    torch.testing.assert_close(proj(net.item_tower.first_sum(bags)), dense, rtol=1e-5,
                               atol=1e-6)
    # A full-width tower with that W computes the same item vectors.
    full = DMFNetwork(30, 20, (16, 8), (16, 8))
    with torch.no_grad():
        full.item_tower.first.weight.copy_(w)
        full.item_tower.mlp[0].load_state_dict(net.item_tower.mlp[1].state_dict())
    torch.testing.assert_close(full.item_tower(bags), net.item_tower(bags), rtol=1e-4,
                               atol=1e-5)


def test_a_rank_as_wide_as_the_layer_is_the_plain_layer():
    net = DMFNetwork(30, 20, (16, 8), (16, 8), item_rank=16)
    assert net.item_tower.first.embedding_dim == 16
    assert [type(m).__name__ for m in net.item_tower.mlp] == ["Linear", "ReLU"]


def test_leave_target_out_is_exact_in_rank_space():
    m = two_groups()
    net = DMFNetwork(60, 40, (16, 8), (16, 8), item_rank=4).eval()
    u, j = 3, int(m[3].indices[0])
    with torch.no_grad():
        pred, _ = batch_predictions(net, m, m.T.tocsr(), np.array([u]), np.array([j]),
                                    np.array([m[u, j]], np.float32), torch.device("cpu"))
        p, q = vectors_without(net, m, u, j)
    torch.testing.assert_close(pred, torch.cosine_similarity(p, q), rtol=1e-5, atol=1e-6)


def test_a_factored_model_learns_grows_and_round_trips(tmp_path):
    model = DMF(**{**FAST, "item_rank": 8, "item_rank_from": 0}).fit(two_groups(),
                                                                     progress=False)
    scores = model.score(np.arange(30))
    assert scores[:, :20].mean() > scores[:, 20:].mean() + 0.1  # the planted groups
    before = model.score(np.arange(60))
    model.add_users(5)
    assert model.net.item_tower.first.weight.shape == (65, 8)
    np.testing.assert_array_equal(model.score(np.arange(60))[:, :], before)
    model.save(tmp_path / "m")
    loaded = DMF.load(tmp_path / "m")
    assert loaded.config.item_rank == 8
    np.testing.assert_allclose(loaded.score(np.arange(60)), before, rtol=1e-6)


def test_only_shops_above_the_threshold_get_the_factored_layer_and_warm_starts_cross_it():
    m = two_groups()  # 60 customers
    small = DMF(**{**FAST, "epochs": 1, "item_rank": 8, "item_rank_from": 60}).fit(
        m, progress=False)
    assert small.net.item_tower.first.embedding_dim == 32  # full width: 60 is not above 60
    big = DMF(**{**FAST, "epochs": 1, "item_rank": 8, "item_rank_from": 59})
    big.nets = [big._network(m.shape) for _ in range(2)]
    big.start_from(small, np.arange(60), np.arange(40))
    assert big.net.item_tower.first.embedding_dim == 8
    # The user tower (same layers) is copied; the item tower changed shape and starts fresh.
    for key, value in small.net.user_tower.state_dict().items():
        assert torch.equal(big.net.user_tower.state_dict()[key], value), key
    assert not torch.equal(big.net.item_tower.mlp[1].weight, small.net.item_tower.mlp[0].weight)
