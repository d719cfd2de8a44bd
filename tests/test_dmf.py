"""DMF: the network, its loss, the training step, determinism, learning a planted structure."""

import copy
import functools

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from model.dmf import DMFNetwork, gather_bags
from model.losses import MU, cosine, cross_entropy, targets
from model.recommender import DMF, DMFConfig, bf16_native, resolve_device
from model.sampling import sample_negatives
from model.training import batch_predictions, epoch_samples

FAST = dict(epochs=25, batch_size=512, lr=1e-2, user_layers=(32, 16), item_layers=(32, 16),
            device="cpu", neg_ratio=3, dropout=0.0, members=2)


def two_groups(n_users=60, n_items=40, seed=0) -> sp.csr_matrix:
    """Group A customers (first half) buy 6 of items 0..19, group B 6 of items 20..39."""
    rng = np.random.default_rng(seed)
    half_u, half_i = n_users // 2, n_items // 2
    rows = np.repeat(np.arange(n_users), 6)
    picks = np.concatenate([rng.choice(half_i, size=6, replace=False) for _ in range(n_users)])
    cols = picks + np.where(rows < half_u, 0, half_i)
    values = rng.integers(1, 6, size=len(rows)).astype(np.float32)  # rating-like values
    return sp.csr_matrix((values, (rows, cols)), shape=(n_users, n_items))


@functools.cache
def small_model() -> DMF:
    """One trained model shared by the read-only tests of the test_dmf* modules."""
    return DMF(**FAST).fit(two_groups(), progress=False)


@pytest.fixture
def trained() -> DMF:
    return small_model()


def fresh(model: DMF) -> DMF:
    """A private copy for tests that change the model."""
    return copy.deepcopy(model)


# --------------------------------------------------------------------- first layer
def test_gather_bags_is_the_sparse_row_product():
    m = sp.random(7, 11, density=0.3, random_state=1, format="csr", dtype=np.float32)
    w = torch.randn(11, 5)
    b = gather_bags(m, np.array([4, 0, 6, 4]))
    bag = torch.nn.functional.embedding_bag(
        b.indices, w, b.offsets, mode="sum", per_sample_weights=b.weights
    )
    dense = torch.from_numpy(m[[4, 0, 6, 4]].toarray()) @ w
    torch.testing.assert_close(bag, dense, rtol=1e-5, atol=1e-5)
    assert b.counts.tolist() == np.diff(m.indptr)[[4, 0, 6, 4]].tolist()


def test_towers_start_with_embedding_bags_of_the_catalog_and_customer_sizes(trained):
    user_first = trained.net.user_tower.first
    item_first = trained.net.item_tower.first
    assert isinstance(user_first, torch.nn.EmbeddingBag) and user_first.mode == "sum"
    assert isinstance(item_first, torch.nn.EmbeddingBag) and item_first.mode == "sum"
    assert (user_first.num_embeddings, item_first.num_embeddings) == (40, 60)
    # First layer: no bias; then Linear + ReLU, ending on ReLU as in the paper.
    assert [type(m).__name__ for m in trained.net.user_tower.mlp] == ["Linear", "ReLU"]


def test_sqrt_input_norm_scales_the_first_layer_by_the_row_size():
    net = DMFNetwork(3, 5, (4, 2), (4, 2), input_norm="sqrt")
    m = sp.csr_matrix(np.array([[1, 2, 0, 0, 3], [0, 0, 0, 0, 0], [0, 4, 0, 0, 0]], np.float32))
    bags = gather_bags(m, np.arange(3))
    plain = net.user_tower.first_sum(bags)
    scaled = net.user_tower.scale(plain, bags.counts)
    torch.testing.assert_close(scaled[0], plain[0] / np.sqrt(3))
    torch.testing.assert_close(scaled[2], plain[2])
    assert torch.all(scaled[1] == 0)  # an empty row stays 0, not NaN


def test_first_sums_reads_rows_and_targets_in_one_call_with_the_same_gradient():
    m = sp.random(6, 9, density=0.4, random_state=2, format="csr", dtype=np.float32)
    bags = gather_bags(m, np.array([5, 1, 3]))
    entries, shares = torch.tensor([2, 7, 2, 0]), torch.tensor([0.5, 1.0, 0.0, 2.0])
    one = DMFNetwork(6, 9, (4, 2), (4, 2)).user_tower
    two = copy.deepcopy(one)
    h, t = one.first_sums(bags, entries, shares)
    h2 = two.first_sum(bags)
    t2 = shares[:, None] * F.embedding(entries, two.first.weight)
    torch.testing.assert_close(h, h2)
    torch.testing.assert_close(t, t2)
    pick = torch.tensor([0, 2, 0, 1])
    (h[pick] - t).pow(2).sum().backward()
    (h2[pick] - t2).pow(2).sum().backward()
    torch.testing.assert_close(one.first.weight.grad, two.first.weight.grad)
    assert one.first.weight.grad.abs().sum() > 0


def test_a_training_step_never_builds_a_dense_row():
    # 1M SKUs and a 512-sample batch: a dense [batch, n_items] buffer would be 5e8 floats.
    n_users, n_items, batch = 300, 1_000_000, 512
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n_users), 5)
    m = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, rng.integers(0, n_items, len(rows)))),
        shape=(n_users, n_items),
    )
    net = DMFNetwork(n_users, n_items, (8, 4), (8, 4))
    users, items, values = epoch_samples(m, 3, rng)
    largest = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal largest
        largest = max(largest, t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        pred, _ = batch_predictions(net, m, m.T.tocsr(), users[:batch], items[:batch],
                                    values[:batch], torch.device("cpu"))
        pred.sum().backward()
    # Nothing kept for backward is bigger than the weight tables (n_items x 8).
    assert largest <= n_items * 8 < batch * n_items // 50


def test_a_big_catalog_trains_end_to_end():
    n_items = 2_000_000
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(200), 5)
    m = sp.csr_matrix((np.ones(len(rows)), (rows, rng.integers(0, n_items, len(rows)))),
                      shape=(200, n_items))
    model = DMF(epochs=1, batch_size=8192, user_layers=(4, 2), item_layers=(4, 2), device="cpu")
    model.fit(m, progress=False)
    assert np.isfinite(model.history[0]["loss"])


# --------------------------------------------------------------------------- loss
def test_nce_targets_use_the_global_max_and_bce_is_binary():
    values = torch.tensor([5.0, 2.0, 0.0])
    torch.testing.assert_close(targets(values, "nce", 5.0), torch.tensor([1.0, 0.4, 0.0]))
    assert targets(values, "bce", 5.0).tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        targets(values, "mse", 5.0)


def test_cross_entropy_by_hand_for_nce_and_bce():
    pred = torch.tensor([0.8, 0.5, 0.1])
    values = torch.tensor([2.0, 4.0, 0.0])
    nce = -(0.5 * np.log(0.8) + 0.5 * np.log(0.2) + np.log(0.5) + np.log(0.9)) / 3
    bce = -(np.log(0.8) + np.log(0.5) + np.log(0.9)) / 3
    assert float(cross_entropy(pred, targets(values, "nce", 4.0))) == pytest.approx(nce, 1e-5)
    assert float(cross_entropy(pred, targets(values, "bce", 4.0))) == pytest.approx(bce, 1e-5)


def test_cosine_is_clipped_below_at_mu():
    # A zero or negative cosine on a positive costs -log(mu), not log(0) or NaN.
    for cos in (0.0, -0.7):
        loss = cross_entropy(torch.tensor([cos]), torch.tensor([1.0]))
        assert float(loss) == pytest.approx(-np.log(MU), rel=1e-4)
    # A zero vector scores 0 (the norm is guarded), not NaN.
    assert float(cosine(torch.zeros(1, 3), torch.ones(1, 3))[0]) == 0.0


# -------------------------------------------------------------------- training
def test_negatives_are_unobserved_and_follow_the_positives_users():
    m = two_groups()
    users, items = sample_negatives(m, 4, np.random.default_rng(0))
    assert len(users) == 4 * m.nnz
    np.testing.assert_array_equal(np.bincount(users, minlength=60), 4 * np.diff(m.indptr))
    assert not np.asarray(m[users, items]).any()


def test_leave_target_out_predicts_a_positive_from_the_row_without_it(trained):
    m = trained.matrix
    net = trained.net.eval()
    u, j = 3, int(m[3].indices[0])
    users, items = np.array([u, u]), np.array([j, 39 - j])
    values = np.array([m[u, j], 0.0], np.float32)
    cols = m.T.tocsr()
    with torch.no_grad():
        pred, truth = batch_predictions(net, m, cols, users, items, values, torch.device("cpu"))
    assert sorted(truth.tolist()) == [0.0, float(m[u, j])]
    p, q = vectors_without(net, m, u, j)
    positive = pred[truth > 0]
    torch.testing.assert_close(positive, cosine(p, q), rtol=1e-5, atol=1e-6)
    # The negative is scored from the full row and column.
    p_full = net.user_tower(gather_bags(m, np.array([u])))
    q_full = net.item_tower(gather_bags(cols, np.array([39 - j])))
    torch.testing.assert_close(pred[truth == 0], cosine(p_full, q_full), rtol=1e-5, atol=1e-6)


def vectors_without(net, m: sp.csr_matrix, u: int, j: int) -> tuple[torch.Tensor, ...]:
    """(p_u, q_j) computed from the matrix without the entry (u, j): leave-target-out."""
    without = m.tolil()
    without[u, j] = 0
    without = sp.csr_matrix(without)
    without.eliminate_zeros()
    return (net.user_tower(gather_bags(without, np.array([u]))),
            net.item_tower(gather_bags(without.T.tocsr(), np.array([j]))))


def test_same_seed_same_model_on_cpu():
    m = two_groups()
    fast = {**FAST, "epochs": 3}
    a = DMF(**fast, seed=3).fit(m, progress=False)
    b = DMF(**fast, seed=3).fit(m, progress=False)
    c = DMF(**fast, seed=4).fit(m, progress=False)
    for net_a, net_b in zip(a.nets, b.nets, strict=True):
        for key, value in net_a.state_dict().items():
            assert torch.equal(value, net_b.state_dict()[key]), key
    users = np.arange(10)
    np.testing.assert_array_equal(a.score(users), b.score(users))
    assert not np.array_equal(a.score(users), c.score(users))


def test_learns_the_planted_taste_groups(trained):
    assert trained.history[-1]["loss"] < trained.history[0]["loss"]
    in_group = 0
    for u in range(60):
        items, _ = trained.recommend(u, n=5)
        lo = 0 if u < 30 else 20
        in_group += int(np.sum((items >= lo) & (items < lo + 20)))
    assert in_group / (60 * 5) > 0.9


def test_both_losses_and_the_sqrt_norm_learn(trained):
    m = two_groups()
    for over in ({"loss": "nce"}, {"loss": "bce"}, {"input_norm": "sqrt", "dropout": 0.5}):
        model = DMF(**{**FAST, **over}).fit(m, progress=False)
        scores = model.score(np.arange(30))
        assert scores[:, :20].mean() > scores[:, 20:].mean() + 0.1, over


def test_bf16_training_multiplies_in_bf16_and_keeps_fp32_weights():
    """precision="bf16": the towers' products run in bf16 while training; weights, Adam and
    serving stay fp32, and the planted groups are still learnt."""
    model = DMF(**{**FAST, "members": 1, "precision": "bf16", "epochs": 1})
    seen: set[torch.dtype] = set()
    model.fit(two_groups(), progress=False)
    hook = model.net.user_tower.mlp[0].register_forward_hook(
        lambda _m, _i, out: seen.add(out.dtype))
    model.train_epochs(20, progress=False)
    hook.remove()
    assert seen == {torch.bfloat16}
    assert {p.dtype for p in model.net.parameters()} == {torch.float32}
    scores = model.score(np.arange(30))
    assert scores.dtype == np.float32
    assert scores[:, :20].mean() > scores[:, 20:].mean() + 0.1
    fp32 = DMF(**{**FAST, "members": 1, "epochs": 1, "precision": "fp32"})
    fp32.fit(two_groups(), progress=False)
    seen.clear()
    fp32.net.user_tower.mlp[0].register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    fp32.train_epochs(1, progress=False)
    assert seen == {torch.float32}
    assert DMF(device="cpu")._bf16 == bf16_native(torch.device("cpu"))  # "auto", the default


def test_epoch_callback_metrics_land_in_history_and_the_progress_bar(capsys):
    seen = []

    def callback(epoch, model):
        # The model scores with the members trained so far: 16 dimensions each.
        seen.append((epoch, model.user_vectors(np.array([0])).shape[1]))
        return {"HR@10": 0.5} if epoch == 2 else None

    model = DMF(**{**FAST, "epochs": 2}).fit(two_groups(), progress=True,
                                            epoch_callback=callback)
    assert seen == [(1, 16), (2, 16), (1, 32), (2, 32)]  # member 1's epochs, then member 2's
    assert [(h["member"], h["epoch"]) for h in model.history] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert model.history[1]["HR@10"] == 0.5 and "HR@10" not in model.history[0]
    assert all(h["seconds"] > 0 and np.isfinite(h["loss"]) for h in model.history)
    assert "HR@10" in capsys.readouterr().err


# ------------------------------------------------------------------- members
def test_the_score_is_the_mean_of_the_members_cosines(trained):
    users, m = np.arange(60), trained.matrix
    cosines = []
    for net in trained.nets:
        p = F.normalize(net.user_tower(gather_bags(m, users)), dim=-1)
        q = F.normalize(net.item_tower(gather_bags(m.T.tocsr(), np.arange(40))), dim=-1)
        cosines.append((p @ q.T).detach().numpy())
    assert len(cosines) == 2 and not np.allclose(cosines[0], cosines[1])  # they differ
    np.testing.assert_allclose(trained.score(users), np.mean(cosines, axis=0), atol=1e-6)


def test_the_first_member_is_the_one_network_model():
    """Members are trained independently: adding some leaves the first one as it was."""
    m = two_groups()
    one = DMF(**{**FAST, "epochs": 3, "members": 1}).fit(m, progress=False)
    three = DMF(**{**FAST, "epochs": 3, "members": 3}).fit(m, progress=False)
    for key, value in one.net.state_dict().items():
        assert torch.equal(value, three.nets[0].state_dict()[key]), key
    assert not torch.equal(three.nets[1].user_tower.first.weight,
                           three.nets[0].user_tower.first.weight)
    assert [h["member"] for h in three.history] == [1] * 3 + [2] * 3 + [3] * 3
    assert "member" not in one.history[0]


# ------------------------------------------------------------------- serving
def test_score_shape_and_values(trained):
    scores = trained.score(np.array([0, 5, 59]))
    assert scores.shape == (3, 40) and scores.dtype == np.float32
    assert np.all(scores >= -1e-6) and np.all(scores <= 1 + 1e-6)  # ReLU outputs: cos >= 0
    # Rows from another matrix (fold-in of many customers) must have the model's SKUs.
    other = sp.csr_matrix(([2.0], ([0], [30])), shape=(1, 40))
    assert trained.score(np.array([0]), other).shape == (1, 40)
    with pytest.raises(ValueError, match="SKUs"):
        trained.score(np.array([0]), sp.csr_matrix((1, 41)))


def test_recommend_excludes_seen_and_the_extra_list(trained):
    m = trained.matrix
    seen = set(m[0].indices.tolist())
    items, scores = trained.recommend(0, n=10, exclude=np.arange(5))
    assert len(items) == 10
    assert not seen & set(items.tolist())
    assert not set(range(5)) & set(items.tolist())
    assert np.all(np.diff(scores) <= 0)
    with_seen, _ = trained.recommend(0, n=40, exclude_seen=False)
    assert seen <= set(with_seen.tolist())
    # Asking for more than is left returns what is left.
    rest, _ = trained.recommend(0, n=100, exclude=np.arange(20))
    assert len(rest) == 40 - 20 - len(seen - set(range(20)))


def test_recommend_all_equals_per_customer_recommend(trained):
    blocks = list(trained.recommend_all(n=5, block_size=16))
    assert [len(u) for u, _, _ in blocks] == [16, 16, 16, 12]
    for users, items, scores in blocks:
        assert items.shape == scores.shape == (len(users), 5)
        for row, u in enumerate(users):
            one_items, one_scores = trained.recommend(int(u), n=5)
            np.testing.assert_allclose(scores[row], one_scores, rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(items[row], one_items)


def test_similar_items_come_from_the_same_group(trained):
    items, scores = trained.similar_items(3, n=5)
    assert 3 not in items.tolist()
    assert np.all(np.diff(scores) <= 0)
    assert np.mean(items < 20) >= 0.8
    q = trained.item_vectors()
    assert float(scores[0]) == pytest.approx(float(q[items[0]] @ q[3]), rel=1e-5)


def test_item_vectors_are_cached_until_the_matrix_changes(trained):
    model = fresh(trained)
    first = model.item_vectors()
    assert model.item_vectors() is first
    torch.testing.assert_close(first.norm(dim=1), torch.ones(40))
    model.update_matrix(model.matrix)
    assert model.item_vectors() is not first


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_trains_and_serves_like_cpu(tmp_path):
    m = two_groups()
    model = DMF(**{**FAST, "device": "auto"}).fit(m, progress=False)
    assert model.device.type == "cuda"
    assert next(model.net.parameters()).is_cuda
    items, scores = model.recommend(0, n=5, exclude=[1, 2])
    assert np.mean(items < 20) >= 0.8 and len(scores) == 5
    _, fold_items, _ = model.fold_in(m[0], n=5, exclude=[1, 2])
    np.testing.assert_array_equal(fold_items, items)
    blocks = list(model.recommend_all(n=5, block_size=32))
    assert sum(len(u) for u, _, _ in blocks) == 60
    assert model.similar_items(3, n=3)[0].shape == (3,)
    model.add_items(1)
    model.save(tmp_path / "m")
    on_cpu = DMF.load(tmp_path / "m", device="cpu")
    np.testing.assert_allclose(on_cpu.score(np.arange(60)), model.score(np.arange(60)),
                               atol=1e-5)


# ----------------------------------------------------------------------- config
def test_config_validation_and_device():
    with pytest.raises(ValueError, match="loss"):
        DMFConfig(loss="mse")
    with pytest.raises(ValueError, match="input_norm"):
        DMFConfig(input_norm="l1")
    with pytest.raises(ValueError, match="members"):
        DMFConfig(members=0)
    with pytest.raises(ValueError, match="precision"):
        DMFConfig(precision="fp8")
    with pytest.raises(ValueError, match="last widths differ"):
        DMF(user_layers=(8, 4), item_layers=(8, 2), device="cpu").fit(two_groups(),
                                                                     progress=False)
    with pytest.raises(ValueError, match="empty"):
        DMF(device="cpu").fit(sp.csr_matrix((3, 3)), progress=False)
    with pytest.raises(RuntimeError, match="not trained"):
        DMF(device="cpu").score(np.array([0]))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert DMF(lr=0.5).config.lr == 0.5 and DMF(DMFConfig(epochs=3)).config.epochs == 3
