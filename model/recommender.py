"""`DMF`: the model's public API, uniform with the baselines (`fit`, `score`, `recommend`,
`similar_items`), plus what a live shop needs: fold-in, growth, blocked top-N, save/load.

Serving uses the fact that cosine is a dot product of normalised vectors: item vectors are
computed from the stored matrix's columns once per (weights, matrix) and cached, so a
customer's top-N is one mat-vec and a `torch.topk`.

Where the defaults depart from the paper (Xue et al. 2017), and why (measured on
leave-one-out splits of ML-100K, Amazon Music and Online Retail):
- training predicts an observed (i, j) from the row and column without that entry
  (`leave_target_out`), as at serving time, where the SKU to find is not in the row yet;
  except where that would empty the row or the column. Removing a single-buyer SKU's only
  buyer fed the item tower an empty column for a positive, the same input as a SKU nobody
  bought, and taught DMF that an empty column means "bought": on Amazon Music (26 % of
  held-out items unseen in training) unseen SKUs outranked 86 % of seen ones, which made up
  a third of the 0.63 HR@10 once reported (withdrawn; BENCHMARKS.md). An earlier claim that
  leaving the target out lifts Amazon Music from 0.35 to 0.53 HR@10 came from that shortcut.
  At serving, SKUs nobody bought rank last and customers without purchases get the best
  sellers (`DMF._ranked`); evaluation ranks unseen SKUs last for every model;
- the default objective is a sampled softmax over cosines / 0.05, each purchase against
  ~1,000 SKUs shared by its training step (`model.softmax`); the paper's normalized
  cross-entropy ("nce") and plain BCE ("bce") are options. Reading the cosine itself as a
  probability cannot rank a whole catalog well: full-ranking Recall@10 on ML-100K rose from
  0.09 (bce) to 0.14 with 4 negatives a purchase and 0.15 with the shared candidates;
- towers 512 -> 256 (the paper: 2 layers, final width 64 in its best runs); Xavier-uniform
  init of the Linear layers;
- batch 16384, lr 5e-4 with cosine decay, 8 epochs instead of batch 256, lr 1e-4;
- an ensemble: up to 5 networks trained independently, the score the mean of their cosines
  (`members`); one network could not pass ALS on Online Retail, an ensemble does
  (BENCHMARKS.md). With a validation split the ensemble stops growing once a network
  brings no validation gain (`members_stop_early`): ML-100K keeps 1, Online Retail 3,
  Amazon Music 5, each within noise of five networks' validation NDCG@10 at 30-70 % fewer
  epochs.
  Serving is unchanged: each member's unit vectors side by side, / sqrt(5), are unit
  vectors whose dot product is that mean.
- above 50,000 customers the item tower's first layer is the product of a customer x 64
  table and a 64 x 512 matrix (`item_rank`): still linear in the buyer column, 8x less
  memory per customer (DMFConfig).
Kept: EmbeddingBag (linear, no bias) first layers over the sparse row / column, ReLU layers
to a shared width, the cosine as the score (clipped below at mu = 1e-6 for the
cross-entropies), 4 uniform negatives drawn per positive (the shared candidates' pool).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from model import artifact
from model.dmf import INPUT_NORMS, DMFNetwork, gather_bags
from model.evaluation import evaluate
from model.holdout import customer_batches, holdout_loss
from model.losses import cross_entropy, targets
from model.rows import row_batches, row_softmax_loss
from model.softmax import epoch_groups, shared_steps, softmax_loss
from model.splits import Split
from model.training import batch_predictions, cosine_lr, epoch_samples

LOSSES = ("bce", "nce", "softmax", "row_softmax", "holdout")
PRECISIONS = ("fp32", "bf16", "auto")
UNBOUGHT_SCORE = -2.0  # below every cosine: SKUs without a buyer rank last


@dataclass
class DMFConfig:
    """Defaults: one setting that works across ML-100K, Amazon Music and Online Retail.

    Chosen by sweeps on all four benchmark splits (ML-100K sampled and full ranking, Amazon
    Music, Online Retail by time; BENCHMARKS.md):
    - up to 5 members (fewer when one brings no validation gain: `members_stop_early`),
      each a whole DMF trained on its own (own init, own draws), scored by the
      mean of their cosines: one network reached 0.052-0.055 Recall@10 on Online Retail
      whatever else was tuned (ALS: 0.056-0.057); the mean of 3 reached 0.056, of 5 0.058,
      and the gain is larger in NDCG and HR. It costs 5x the training time (members train
      one after another, so only one member's optimizer state is in memory), nothing more
      at serving (`DMF._joined`).
    - lr 5e-4 with cosine decay over 8 epochs a member, towers 512 -> 256: on Online Retail
      lr 3e-3 / 1e-3 / 5e-4 / 2.5e-4 gave 0.053 / 0.054 / 0.054 / 0.052 (1e-2: 0.043), and
      512 -> 256 0.053 against 0.051 for 512 -> 128 at 8 epochs; ML-100K full ranking peaks
      at 8 epochs with lr 5e-4 (0.151) and over-fits after (0.127 at 24); Amazon Music 0.594
      HR@10 at 8 epochs (0.56 with the previous 20 at lr 3e-3).
    - loss "softmax", temperature 0.05: 0.03 to 0.05 were best (0.1: -0.01 Recall@10 on
      ML-100K full, 0.2: -0.04).
    - shared negatives (1,024 candidates a step, model.softmax): against 4 negatives of each
      positive's own, Recall@10 0.046 -> 0.049 on Online Retail and 0.140 -> 0.149 on
      ML-100K full; 4,096 candidates (the whole catalog) measured within noise of 1,024 at
      twice the cost.
    - no dropout: with the softmax, dropout 0.5 cost 0.01-0.02 Recall@10 on ML-100K.
    - batch 16384: a step costs about one pass over the matrix whatever the batch size
      (model.training), so large batches make CPU training fast; the paper's lr 1e-4 with
      batch 256 needs hundreds of epochs.
    - at most 128 steps an epoch: a shop so large that 16384 samples make more steps gets
      larger batches, so an epoch costs ~128 passes over the matrix and grows linearly with
      the purchases instead of with their square (the three benchmark sets stay below it);
      but a step takes at most 163,840 pairs (32,768 purchases): its activations follow its
      size, and past about 4M purchases the bound holds fit memory (1M customers x 50k SKUs:
      3.2 KiB per customer instead of 4.2, BENCHMARKS.md) for more, smaller steps.
    - with loss "nce", purchase values (log1p quantities up to ~9 on Online Retail) make the
      targets Y/max(R) of ordinary purchases ~0.2; "bce" (0/1 targets) did better there.
    - init: first layers N(0, init_std) as in the paper; Linear layers Xavier-uniform.
    - precision "auto": training's products in bf16 where the hardware has it (AVX512-BF16 or
      AMX CPUs, Ampere+ GPUs), fp32 elsewhere. One network, validation NDCG@10 bf16 / fp32:
      ML-100K 0.1004 / 0.0999, Online Retail 0.1134 / 0.1143, Amazon Music 0.2834 / 0.2839
      (within the seed spread); a step 1.5x faster on one core (BENCHMARKS.md).
    - item_rank 64 above 50,000 customers: the item tower's first layer (one 512-wide row per
      customer, with its gradient and Adam's two moments 8 KiB per customer) is factored as
      E (64 per customer) x P (64 x 512): 1 KiB per customer, and a step at 100k customers x
      50k SKUs 1.9x faster (the bags read 64 floats per purchase, not 512). Below the
      threshold the full layer stays: on the validation splits, one seed, factored against
      full: ML-100K (943 customers) 0.1004 / 0.0946 NDCG@10, Online Retail 0.1187 / 0.1205,
      Amazon Music 0.2895 / 0.3012 (BENCHMARKS.md), so small shops keep the paper's layer.
    """

    user_layers: tuple[int, ...] = (512, 256)
    item_layers: tuple[int, ...] = (512, 256)
    members: int = 5  # independently trained networks; the score is their mean cosine
    loss: str = "softmax"  # "bce": 0/1 targets; "nce": targets Y_ij / max(R), the paper's;
    # "softmax": each positive against sampled SKUs (model.softmax)
    neg_ratio: int = 4  # sampled unobserved entries per observed one, each epoch
    shared_negatives: int = 1024  # loss "softmax": the step's draws (up to this many) are
    # candidates for all its positives (model.softmax); 0: each positive's own neg_ratio
    temperature: float = 0.05  # loss "softmax": logits are cosines / temperature
    batch_customers: int = 256  # loss "holdout": customers per step (model.holdout)
    target_share: float = 0.5  # loss "holdout": share of each row held out as targets
    lr: float = 5e-4  # of each member, decayed over its epochs
    lr_schedule: str = "cosine"  # "cosine" decay to 5% over the run, or "constant"
    batch_size: int = 16384
    max_steps_per_epoch: int = 128  # larger shops get larger batches (0: never)
    max_step_samples: int = 163_840  # ... but never more pairs a step than this (0: no
    # bound): a step's activations follow its size (1M customers: 4.2 -> 3.2 KiB each)
    epochs: int = 8  # of each member (at most, when a validation split stops it early)
    patience: int = 2  # epochs without a validation gain before a member stops
    members_follow_first: bool = False  # with validation: members 2.. train for the epoch
    # count the first member kept, instead of each stopping on its own
    members_stop_early: bool = True  # with validation: stop adding members once one brings
    # no gain to the ensemble's validation NDCG@10 (that member is dropped)
    warm_lr: float = 0.2  # a warm-started fit's learning rate, as a share of lr
    weight_decay: float = 0.0
    leave_target_out: bool = True  # predict (i, j) from the row without j (see training)
    input_norm: str = "none"  # "sqrt": first layer / sqrt(row nnz); "none": the paper's sum
    dropout: float = 0.0  # on the first layer's output, training only
    input_values: str = "as_is"  # "binary": the towers see 1 for every purchase, not its value
    precision: str = "auto"  # training's matrix products: "bf16" (autocast) or "fp32";
    # "auto": bf16 where the hardware computes it natively (`bf16_native`). Serving is fp32.
    item_rank: int = 64  # shops with more than `item_rank_from` customers: the item tower's
    # customer-sized first layer is factored as E [customers x item_rank] x P [item_rank x
    # width] (model.dmf.Tower); 0: always full width
    item_rank_from: int = 50_000  # customers above which the item tower is factored
    init_std: float = 0.01
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        self.user_layers = tuple(int(w) for w in self.user_layers)
        self.item_layers = tuple(int(w) for w in self.item_layers)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {self.loss!r}")
        if self.input_values not in ("as_is", "binary"):
            raise ValueError(f"input_values must be as_is or binary, not {self.input_values!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, not {self.temperature}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be cosine or constant, not {self.lr_schedule!r}")
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {INPUT_NORMS}, not {self.input_norm!r}")
        if self.shared_negatives < 0:
            raise ValueError(f"shared_negatives must be >= 0, not {self.shared_negatives}")
        if self.max_step_samples < 0:
            raise ValueError(f"max_step_samples must be >= 0, not {self.max_step_samples}")
        if self.max_steps_per_epoch < 0:
            raise ValueError(f"max_steps_per_epoch must be >= 0, not {self.max_steps_per_epoch}")
        for name in ("neg_ratio", "batch_size", "epochs", "members"):
            if getattr(self, name) < (0 if name in ("neg_ratio", "epochs") else 1):
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")


def bf16_native(device: torch.device) -> bool:
    """Does `device` multiply bf16 matrices natively (CUDA compute capability 8+, a CPU with
    AVX512-BF16 or AMX through oneDNN)? Elsewhere bf16 is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


EpochCallback = Callable[[int, "DMF"], dict[str, float] | None]
# (a trained model, each customer's row in it or -1, each SKU's row in it or -1)
WarmStart = tuple["DMF", np.ndarray, np.ndarray]


def _same_layers(tower: torch.nn.Module, old: torch.nn.Module) -> bool:
    """Do two towers have the same layers, whatever their first layers' row counts?"""
    mine, theirs = tower.state_dict(), old.state_dict()
    return mine.keys() == theirs.keys() and all(
        mine[k].shape[1:] == theirs[k].shape[1:] if k == "first.weight"
        else mine[k].shape == theirs[k].shape for k in mine)


@dataclass
class _Cache:
    items: torch.Tensor | None = None  # normalised q_j for every SKU


class DMF:
    name = "DMF"

    def __init__(self, config: DMFConfig | None = None, **overrides: Any) -> None:
        base = config or DMFConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.device = resolve_device(self.config.device)
        # Matrix products in bf16 while training (autocast): the weights, Adam and serving
        # stay fp32.
        precision = self.config.precision
        self._bf16 = precision == "bf16" or (precision == "auto" and bf16_native(self.device))
        self.nets: list[DMFNetwork] = []  # the members (config.members of them once trained)
        self.matrix: sp.csr_matrix | None = None
        self.history: list[dict[str, float]] = []
        self.metadata: dict[str, Any] = {}
        self.version = artifact.new_version_id()
        self._cache = _Cache()
        self._serving: int | None = None  # while training: the members trained so far
        self._cols: sp.csr_matrix | None = None
        self._max_rating = 1.0

    @property
    def net(self) -> DMFNetwork | None:
        """The first member (the only one with `members=1`)."""
        return self.nets[0] if self.nets else None

    # ----------------------------------------------------------------- training
    def fit(
        self,
        matrix: sp.csr_matrix,
        *,
        progress: bool = True,
        epoch_callback: EpochCallback | None = None,
        validation: Split | None = None,
        warm_start: WarmStart | None = None,
    ) -> DMF:
        """Train on a customers x SKUs matrix (values as chosen by the caller).

        With `validation`, each member stops early on it (`train_epochs`). With `warm_start`
        (a trained model and where each of this matrix's customers and SKUs sat in it), the
        networks start from its weights instead of from scratch (`start_from`)."""
        matrix = _as_csr(matrix)
        if matrix.nnz == 0:
            raise ValueError("cannot train on an empty interaction matrix")
        cfg = self.config
        torch.manual_seed(cfg.seed)
        self.nets = [self._network(matrix.shape) for _ in range(cfg.members)]
        if warm_start is not None:
            self.start_from(*warm_start)
        self.set_matrix(matrix)
        self.history = []
        # A warm start is already near a good point: a smaller step refines it instead of
        # shaking it loose (a full-size first step lost it on Online Retail's validation).
        lr = cfg.lr * cfg.warm_lr if warm_start is not None else None
        self.train_epochs(cfg.epochs, progress=progress, epoch_callback=epoch_callback,
                          validation=validation, lr=lr)
        return self

    @torch.no_grad()
    def start_from(self, other: DMF, user_rows: np.ndarray, item_rows: np.ndarray) -> None:
        """Copy `other`'s weights into these (same-shaped) networks: every layer above the
        first, and the first layers' rows of the customers and SKUs it knew. `user_rows[u]` is
        customer u's row in `other` (-1: new, keeps its fresh init), `item_rows` likewise.
        Members pair up in order; members `other` lacks start fresh."""
        user_rows, item_rows = np.asarray(user_rows), np.asarray(item_rows)
        for net, old in zip(self.nets, other.nets, strict=False):
            for tower, old_tower, rows in ((net.user_tower, old.user_tower, item_rows),
                                           (net.item_tower, old.item_tower, user_rows)):
                if not _same_layers(tower, old_tower):
                    continue  # e.g. the item tower became factored as the shop grew: fresh
                tower.mlp.load_state_dict(old_tower.mlp.state_dict())
                known = np.flatnonzero(rows >= 0)
                src = torch.from_numpy(rows[known]).to(old_tower.first.weight.device)
                tower.first.weight[torch.from_numpy(known).to(tower.first.weight.device)] = (
                    old_tower.first.weight[src].to(tower.first.weight.device))
        self._cache = _Cache()

    def train_epochs(
        self,
        epochs: int,
        *,
        progress: bool = True,
        epoch_callback: EpochCallback | None = None,
        lr: float | None = None,
        seed_offset: int = 0,
        validation: Split | None = None,
    ) -> None:
        """Train the current weights for up to `epochs` more epochs (fine-tuning uses this too).

        Members train one after another, each with its own optimizer and its own draws (rng
        seeded seed + offset + 1000 x member), so they err independently and only one
        member's Adam state is in memory at a time. `epoch_callback(epoch, model)` may return
        metrics (the model then scores with the members trained so far): they are shown in
        the progress bar and kept in `history` beside the epoch's loss and seconds.

        With `validation` (a split carved from the training data, `model.validation`), each
        epoch is scored on it (NDCG@10 of the members so far); a member stops once
        `config.patience` epochs bring no gain and keeps its best epoch's weights.
        """
        self._require()
        cfg = self.config
        base_lr = lr or cfg.lr
        members, schedule = len(self.nets), None
        bar = tqdm(total=members * epochs, desc="DMF", unit="epoch", disable=not progress,
                   leave=False)
        ensemble_best = -np.inf
        try:
            for k, net in enumerate(list(self.nets)):
                self._serving = k + 1
                kept, best = self._train_member(k, net, epochs, base_lr, seed_offset,
                                                epoch_callback, bar, validation, schedule)
                if validation is not None and cfg.members_stop_early and k > 0 \
                        and best <= ensemble_best:
                    # The ensemble's size, chosen on validation: a member that brings no
                    # gain is dropped and no further member is trained.
                    del self.nets[k:]
                    for row in self.history:
                        if row.get("member") == k + 1:
                            row["dropped"] = 1
                    self.config = dataclasses.replace(cfg, members=k)  # save/load match
                    bar.total -= epochs * (members - k - 1)
                    break
                ensemble_best = max(ensemble_best, best)
                if k == 0 and validation is not None and cfg.members_follow_first:
                    # Later members train for the first one's best epoch count (chosen on
                    # validation), with no patience epochs to pay and nothing to restore.
                    bar.total -= (epochs - kept) * (members - 1)
                    schedule, epochs, validation = epochs, kept, None
        finally:
            self._serving = None
            self._cache = _Cache()
            bar.close()

    def _train_member(
        self, k: int, net: DMFNetwork, epochs: int, base_lr: float, seed_offset: int,
        epoch_callback: EpochCallback | None, bar: tqdm, validation: Split | None,
        schedule: int | None = None,
    ) -> tuple[int, float]:
        """Train member k for up to `epochs` epochs; returns the epoch count it kept (its best
        on `validation`, else all it ran) and the validation NDCG@10 there (-inf without)."""
        cfg = self.config
        rng = np.random.default_rng(cfg.seed + seed_offset + 1000 * k)
        # fused: one pass over each parameter per step instead of five (the first layers are
        # as large as the catalogue and the customer base).
        optimizer = torch.optim.Adam(net.parameters(), lr=base_lr, weight_decay=cfg.weight_decay,
                                     fused=True)
        # A follower (members_follow_first) retraces the first member's lr schedule, which
        # spans `schedule` epochs, up to the epoch that member kept.
        total_steps, step = (schedule or epochs) * self.steps_per_epoch(), 0
        best, best_state, since, ran, kept = -np.inf, None, 0, 0, epochs
        for _ in range(epochs):
            ran += 1
            started = time.perf_counter()
            net.train()
            total, batches = 0.0, 0
            for batch in self.epoch_batches(rng):
                if cfg.lr_schedule == "cosine":
                    for group in optimizer.param_groups:
                        group["lr"] = cosine_lr(base_lr, step, total_steps)
                total += self.train_step(optimizer, *batch, net=net, rng=rng)
                batches += 1
                step += 1
            self._cache = _Cache()
            done = sum(1 for r in self.history if r.get("member", 1) == k + 1)
            row: dict[str, float] = {
                "epoch": done + 1,  # fine-tuning goes on counting
                "loss": total / max(batches, 1),
                "steps": batches,
                "seconds": time.perf_counter() - started,
            }
            if len(self.nets) > 1:
                row = {"member": k + 1, **row}
            if validation is not None:
                row["val_ndcg"] = evaluate(self, validation, 10, metrics=("NDCG",))["NDCG@10"]
            if epoch_callback is not None:
                row.update(epoch_callback(row["epoch"], self) or {})
            self.history.append(row)
            bar.update()
            bar.set_postfix({key: f"{v:.4g}" for key, v in row.items() if key != "epoch"})
            if validation is not None:
                if row["val_ndcg"] > best:
                    best, since, kept = row["val_ndcg"], 0, ran
                    best_state = {n: t.detach().clone() for n, t in net.state_dict().items()}
                else:
                    since += 1
                    if since >= cfg.patience:
                        break
        if best_state is not None:
            net.load_state_dict(best_state)
            self._cache = _Cache()
        bar.update(epochs - ran)  # the epochs early stopping saved
        net.zero_grad(set_to_none=True)  # with the optimizer gone, nothing of training stays
        return kept, best

    def steps_per_epoch(self) -> int:
        cfg = self.config
        if cfg.loss == "holdout":
            trainable = int((np.diff(self.matrix.indptr) >= 2).sum())
            return max(-(-trainable // cfg.batch_customers), 1)
        if cfg.loss == "row_softmax":
            return max(-(-self.matrix.nnz // self._positives_per_step()), 1)
        return -(-self.matrix.nnz * (1 + cfg.neg_ratio) // self.batch_samples())

    def epoch_batches(self, rng: np.random.Generator) -> Iterator[tuple]:
        """An epoch's steps: customer batches (holdout), or slices of `epoch_samples`."""
        if self.config.loss == "holdout":
            for customers in customer_batches(self.matrix, self.config.batch_customers, rng):
                yield (customers,)
            return
        if self.config.loss == "row_softmax":
            for customers in row_batches(self.matrix, self._positives_per_step(), rng):
                yield (customers,)
            return
        if self.config.loss == "softmax" and self.config.shared_negatives:
            yield from shared_steps(self.matrix, self.config.neg_ratio,
                                    self._positives_per_step(), rng)
            return
        samples, size = self.epoch_samples(rng)
        for lo in range(0, len(samples[0]), size):
            yield tuple(a[lo : lo + size] for a in samples)

    def epoch_samples(self, rng: np.random.Generator) -> tuple[tuple[np.ndarray, ...], int]:
        """An epoch's shuffled samples (arrays cut together into steps) and the step size.

        Softmax: (customers, SKUs, values, negatives) of every purchase, and positives per step
        such that a step scores as many pairs as a pointwise one: positives x (1 + ratio).
        """
        cfg = self.config
        if cfg.loss == "softmax":
            return epoch_groups(self.matrix, cfg.neg_ratio, rng), self._positives_per_step()
        return epoch_samples(self.matrix, cfg.neg_ratio, rng), self.batch_samples()

    def train_step(
        self, optimizer: torch.optim.Optimizer, *batch: np.ndarray, net: DMFNetwork | None = None,
        rng: np.random.Generator | None = None,
    ) -> float:
        """One optimizer step of one member (default: the first) on one of `epoch_batches`;
        returns its loss."""
        net = net or self.net
        # Only the forward pass runs under autocast; backward follows its dtypes.
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self._bf16):
            loss = self._loss(net, rng, *batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def _loss(self, net: DMFNetwork, rng: np.random.Generator | None,
              *batch: np.ndarray) -> torch.Tensor:
        """The configured objective on one of `epoch_batches`."""
        cfg = self.config
        if cfg.loss in ("bce", "nce"):
            pred, values = batch_predictions(
                net, self.matrix, self._cols, *batch, self.device, cfg.leave_target_out)
            return cross_entropy(pred, targets(values, cfg.loss, self._max_rating))
        if cfg.loss == "softmax":
            return softmax_loss(
                net, self.matrix, self._cols, *batch, self.device, cfg.temperature,
                cfg.leave_target_out, cfg.shared_negatives,
            )
        # the customer-batched objectives: a step is a batch of customers
        objective = holdout_loss if cfg.loss == "holdout" else row_softmax_loss
        extra = {"target_share": cfg.target_share} if cfg.loss == "holdout" else {}
        return objective(
            net, self.matrix, self._cols, batch[0], rng or np.random.default_rng(),
            self.device, temperature=cfg.temperature, candidates=cfg.shared_negatives,
            buyable=self._buyable, **extra,
        )

    def _positives_per_step(self) -> int:
        """Softmax objectives: positives per step, such that a step scores as many pairs as
        a pointwise one: positives x (1 + neg_ratio) = batch_samples."""
        return max(self.batch_samples() // (1 + self.config.neg_ratio), 1)

    def batch_samples(self) -> int:
        """Scored pairs per step: `batch_size`, or more so an epoch has at most
        `max_steps_per_epoch` steps (a step costs about one pass over the matrix), and at most
        `max_step_samples` (a step's memory follows its size: past that, more steps)."""
        cfg = self.config
        samples = self.matrix.nnz * (1 + cfg.neg_ratio)
        size = cfg.batch_size
        if cfg.max_steps_per_epoch > 0:
            size = max(size, -(-samples // cfg.max_steps_per_epoch))
        if cfg.max_step_samples > 0:
            size = min(size, max(cfg.max_step_samples, cfg.batch_size))
        return size

    def _network(self, shape: tuple[int, int]) -> DMFNetwork:
        cfg = self.config
        return DMFNetwork(
            shape[0], shape[1], cfg.user_layers, cfg.item_layers, cfg.init_std, cfg.input_norm,
            cfg.dropout, cfg.item_rank if shape[0] > cfg.item_rank_from else 0,
        ).to(self.device)

    # ------------------------------------------------------------ matrix & growth
    def _input(self, matrix: sp.spmatrix) -> sp.csr_matrix:
        """CSR as the towers see it (with input_values="binary", every stored value is 1)."""
        matrix = _as_csr(matrix)
        if self.config.input_values == "binary" and matrix.nnz and (matrix.data != 1).any():
            matrix = matrix.copy()
            matrix.data[:] = 1.0
        return matrix

    def set_matrix(self, matrix: sp.csr_matrix) -> None:
        """Use `matrix` as the customers' rows and SKUs' columns from now on (same or grown)."""
        matrix = self._input(matrix)
        if self.net is not None:
            n_users = self.net.item_tower.first.num_embeddings
            n_items = self.net.user_tower.first.num_embeddings
            if matrix.shape != (n_users, n_items):
                raise ValueError(
                    f"matrix is {matrix.shape}, model is {(n_users, n_items)}: grow it first "
                    "(add_users / add_items)"
                )
        self.matrix = matrix
        self._max_rating = float(matrix.data.max()) if matrix.nnz else 1.0  # nce targets
        self._cols = matrix.T.tocsr()
        self._cols.sort_indices()
        buyers = np.diff(self._cols.indptr)
        self._buyable = np.flatnonzero(buyers > 0)
        self._unbought = torch.from_numpy(buyers == 0)
        self._popularity = torch.from_numpy(buyers / (buyers.max(initial=0) + 1.0)).float()
        self._cache = _Cache()

    update_matrix = set_matrix

    def add_users(self, count: int) -> None:
        """Room for `count` new customers (item tower inputs); nobody's scores change."""
        self._require()
        for net in self.nets:
            net.item_tower.grow(count, self.config.init_std)
        self.matrix = sp.vstack([self.matrix, sp.csr_matrix((count, self.matrix.shape[1]))])
        self.set_matrix(self.matrix)

    def add_items(self, count: int) -> None:
        """Room for `count` new SKUs (user tower inputs); nobody's scores on old SKUs change."""
        self._require()
        for net in self.nets:
            net.user_tower.grow(count, self.config.init_std)
        self.matrix = sp.hstack([self.matrix, sp.csr_matrix((self.matrix.shape[0], count))])
        self.set_matrix(self.matrix)

    @property
    def n_users(self) -> int:
        return 0 if self.matrix is None else self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return 0 if self.matrix is None else self.matrix.shape[1]

    # ------------------------------------------------------------------ vectors
    @torch.no_grad()
    def user_vectors(self, users: np.ndarray, matrix: sp.csr_matrix | None = None) -> torch.Tensor:
        """Unit p_i for the given rows of `matrix` (default: the stored one); see `_joined`."""
        self._require()
        src = self.matrix if matrix is None else self._input(matrix)
        if src.shape[1] != self.n_items:
            raise ValueError(f"rows have {src.shape[1]} SKUs, the model {self.n_items}")
        bags = gather_bags(src, np.asarray(users), self.device)
        return self._joined([net.eval().user_tower(bags) for net in self._members()])

    def _members(self) -> list[DMFNetwork]:
        return self.nets[: self._serving] if self._serving else self.nets

    @staticmethod
    def _joined(parts: list[torch.Tensor]) -> torch.Tensor:
        """Each member's vectors normalised, side by side, / sqrt(members): unit vectors whose
        dot product is the mean of the members' cosines, so serving stays one product."""
        out = torch.cat([torch.nn.functional.normalize(v, dim=-1) for v in parts], dim=-1)
        return out / len(parts) ** 0.5 if len(parts) > 1 else out

    @torch.no_grad()
    def item_vectors(self, block: int = 4096) -> torch.Tensor:
        """Unit q_j of every SKU (`_joined`), cached until the weights or the matrix change."""
        self._require()
        if self._cache.items is None:
            parts = []
            for lo in range(0, self.n_items, block):
                bags = gather_bags(self._cols, np.arange(lo, min(lo + block, self.n_items)),
                                   self.device)
                parts.append(self._joined([net.eval().item_tower(bags)
                                           for net in self._members()]))
            self._cache.items = torch.cat(parts)
        return self._cache.items

    # ------------------------------------------------------------------ scoring
    def score(self, users: np.ndarray, matrix: sp.csr_matrix | None = None) -> np.ndarray:
        """cos(p_i, q_j) for every SKU: float32 [len(users), n_items]."""
        users = np.asarray(users, dtype=np.int64)
        src = self.matrix if matrix is None else self._input(matrix)
        p = self.user_vectors(users, matrix)
        empty = np.diff(src.indptr)[users] == 0
        return self._ranked(p @ self.item_vectors().T, empty).cpu().numpy().astype(np.float32)

    def _ranked(self, scores: torch.Tensor, empty_rows: np.ndarray) -> torch.Tensor:
        """The serving rules for what the towers cannot know: a SKU nobody bought (a new one,
        or one whose purchases left the window) scores below every cosine, so it ranks last;
        a customer with no purchases gets the SKUs by popularity (buyers, scaled into [0, 1))."""
        if empty_rows.any():
            rows = torch.from_numpy(np.flatnonzero(empty_rows)).to(scores.device)
            scores[rows] = self._popularity.to(scores.device)
        scores[:, self._unbought.to(scores.device)] = UNBOUGHT_SCORE
        return scores

    def recommend(
        self,
        user: int,
        n: int = 10,
        *,
        row: sp.csr_matrix | None = None,
        exclude_seen: bool = True,
        exclude: np.ndarray | list[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n SKU indices and scores for one customer (its stored row, or `row`)."""
        if row is None:
            self._require()
            row = self.matrix[int(user)]
        _, items, scores = self.fold_in(row, n, exclude_seen=exclude_seen, exclude=exclude)
        return items, scores

    def fold_in(
        self,
        row: sp.csr_matrix,
        n: int = 10,
        exclude_seen: bool = True,
        exclude: np.ndarray | list[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vector, top items, scores) for an updated or new customer row, with no training."""
        row = self._input(row)
        if row.shape != (1, self.n_items):
            raise ValueError(f"row must be 1 x {self.n_items}, not {row.shape}")
        p = self.user_vectors(np.array([0]), row)
        scores = self._ranked(p @ self.item_vectors().T, np.array([row.nnz == 0]))[0]
        banned = list(exclude) if exclude is not None else []
        if exclude_seen:
            banned += row.indices.tolist()
        items, top = _topk(scores, banned, n)
        return p[0].cpu().numpy(), items, top

    def fold_in_many(self, rows: sp.csr_matrix, n: int = 10
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
        """`fold_in` of every row of `rows` (bought SKUs excluded), the towers run once for all
        of them: (top items, scores) per row. Memory ~ rows x SKUs: pass blocks."""
        rows = self._input(rows)
        if rows.shape[1] != self.n_items:
            raise ValueError(f"rows must have {self.n_items} SKUs, not {rows.shape[1]}")
        if rows.shape[0] == 0:
            return []
        p = self.user_vectors(np.arange(rows.shape[0]), rows)
        scores = self._ranked(p @ self.item_vectors().T, np.diff(rows.indptr) == 0)
        if rows.nnz:
            seen = rows.tocoo()
            scores[torch.from_numpy(seen.row.astype(np.int64)).to(scores.device),
                   torch.from_numpy(seen.col.astype(np.int64)).to(scores.device)] = -torch.inf
        return [_topk(scores[i], [], n) for i in range(rows.shape[0])]

    def recommend_all(
        self, n: int = 10, block_size: int = 1024, exclude_seen: bool = True
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(users, items [b, n], scores [b, n]) per block of customers; memory ~ block x SKUs.

        A customer with fewer than n SKUs left after exclusion gets -inf scores at the end.
        """
        self._require()
        q = self.item_vectors()
        k = min(n, self.n_items)
        for lo in range(0, self.n_users, block_size):
            users = np.arange(lo, min(lo + block_size, self.n_users))
            scores = self._ranked(self.user_vectors(users) @ q.T,
                                  np.diff(self.matrix.indptr)[users] == 0)
            if exclude_seen:
                sub = self.matrix[users].tocoo()
                rows = torch.from_numpy(sub.row.astype(np.int64)).to(scores.device)
                cols = torch.from_numpy(sub.col.astype(np.int64)).to(scores.device)
                scores[rows, cols] = -torch.inf
            top = torch.topk(scores, k, dim=1)
            yield users, top.indices.cpu().numpy(), top.values.cpu().numpy()

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """SKUs whose item vectors are closest (cosine) to this one's, itself left out."""
        q = self.item_vectors()
        scores = q @ q[int(item)]
        scores[self._unbought.to(scores.device)] = UNBOUGHT_SCORE
        return _topk(scores, [int(item)], n)

    # --------------------------------------------------------------- persistence
    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        self._require()
        self.metadata = {**self.metadata, **(metadata or {})}
        meta = {
            "version": self.version,
            "config": dataclasses.asdict(self.config),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "history": [{k: _plain(v) for k, v in row.items()} for row in self.history],
            **self.metadata,
        }
        artifact.write(Path(path), self._state(), self.matrix, meta)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> DMF:
        state, matrix, meta = artifact.read(Path(path))
        # Artifacts from before input_norm / members existed: the plain sum, one network.
        defaults = {"input_norm": "none", "members": 1}
        config = DMFConfig(**{**defaults, **meta["config"], "device": device})
        model = cls(config)
        model.nets = [model._network(matrix.shape) for _ in range(config.members)]
        for k, net in enumerate(model.nets):
            prefix = f"member{k}." if config.members > 1 else ""
            net.load_state_dict({key[len(prefix):]: v for key, v in state.items()
                                 if key.startswith(prefix)})
        model.set_matrix(matrix)
        model.version = meta.get("version", model.version)
        skip = {"version", "config", "n_users", "n_items", "saved_at", "history"}
        model.metadata = {k: v for k, v in meta.items() if k not in skip}
        model.history = list(meta.get("history") or [])
        return model

    def _state(self) -> dict[str, torch.Tensor]:
        """All members' weights; one member keeps the plain DMFNetwork keys."""
        if len(self.nets) == 1:
            return self.nets[0].state_dict()
        return {f"member{k}.{key}": v for k, net in enumerate(self.nets)
                for key, v in net.state_dict().items()}

    def _require(self) -> None:
        if not self.nets or self.matrix is None:
            raise RuntimeError("the model is not trained: call fit() or DMF.load() first")


def _plain(value: Any) -> Any:
    """numpy scalars (from epoch callbacks) as plain Python numbers, for meta.json."""
    return value.item() if isinstance(value, np.generic) else value


def _as_csr(matrix: sp.spmatrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float32)
    out.sort_indices()
    return out


def _topk(scores: torch.Tensor, banned: list[int], n: int) -> tuple[np.ndarray, np.ndarray]:
    scores = scores.clone()
    if banned:
        scores[torch.as_tensor(banned, dtype=torch.long, device=scores.device)] = -torch.inf
    k = min(n, int(torch.isfinite(scores).sum()))
    top = torch.topk(scores, k)
    return top.indices.cpu().numpy(), top.values.cpu().numpy()


__all__ = ["DMF", "DMFConfig"]
