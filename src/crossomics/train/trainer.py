"""Two-stage trainer: stage 1 pretrains each modality's VAE, stage 2 aligns them in the joint space.

Stage 2 adds the aligner cycle term, the adversarial modality-confusion term (the discriminator gets its own
optimiser and is trained on detached joint points) and the MNN anchor term. Early stopping and the
learning-rate schedule watch the validation value of the very objective being optimised. Checkpoints hold
every state needed to resume bit-for-bit on the CPU (weights, optimisers, schedulers, RNG states).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import signal
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, StoppedBySignal
from ..io.write import atomic_path
from ..module.network import CrossNetwork, anchor_distance
from .batches import AnchorPairs, DomainData, EpochSampler
from .losses import LossWeights

log = logging.getLogger("crossomics")
STAGES = ("pretrain", "align")
SMALL_DATA_CELLS = 2048  # training cells in the largest sample below which the default batch is 256


@dataclass
class TrainConfig:
    """Optimisation settings of both stages."""

    # None: 512, or 256 when the largest sample has fewer than 2,048 training cells (small data keeps enough
    # steps per epoch). 512 halves the optimiser steps of 256 at the same SNARE-seq FOSCTTM (0.100 unpaired)
    batch_size: int | None = None
    lr: float = 2e-3
    weight_decay: float = 1e-5
    max_epochs_pretrain: int = 20
    # SNARE-seq unpaired, 20 + 20 against 20 + 40 epochs: training 91 s against 145 s (2 threads), FOSCTTM
    # 0.101 / 0.102, Leiden ARI 0.342 / 0.355, ASW 0.514 / 0.515; held-out ATAC->RNA gene r 0.106 / 0.096,
    # RNA->ATAC AUROC 0.805 / 0.804, marker overlap 0.386 / 0.418, own-promoter perturbation AUROC 0.817 /
    # 0.809. 10 + 10 lost more (marker overlap 0.285, own-promoter 0.782). 12 + 12 (2026-11-27, back to
    # back with 20 + 20): training 37 s against 60 s, FOSCTTM 0.0995 / 0.1008, Leiden ARI 0.378 / 0.375, but
    # held-out marker overlap 0.305 / 0.386 and own-RNA gene r 0.155 / 0.165; integration alone can take
    # --max-epochs 12
    max_epochs_align: int = 20
    # optimisation steps per stage: past this the epoch budget shrinks, so training time stops growing with
    # cells (SNARE-seq, 10k cells: 19 steps per epoch, 380 + 380 steps, under the cap; 100k cells: 7 + 7 epochs)
    max_steps: int = 1200
    patience: int = 10
    lr_patience: int = 4
    lr_factor: float = 0.5
    grad_clip: float = 10.0
    val_fraction: float = 0.1
    max_val_cells: int = 1024
    decoded_features: int = 4096  # features decoded per step for Bernoulli/Normal domains (0: all)
    checkpoint_every: int = 5
    seed: int = 0


class Trainer:
    """Runs both stages on ``net`` with per-domain data and anchor pairs; records a per-epoch history.

    ``progress(stage, epoch, max_epochs, losses, last)``, when given, is called after every epoch; ``last``
    marks a stage's final epoch, by its budget or by early stopping.
    """

    def __init__(
        self,
        net: CrossNetwork,
        data: dict[str, DomainData],
        anchors: list[AnchorPairs],
        *,
        config: TrainConfig,
        weights: LossWeights,
        device: torch.device,
        checkpoint_path: Path | None = None,
        progress: Callable[[str, int, int, dict[str, float], bool], None] | None = None,
        targets: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.net = net.to(device)
        self.targets = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in (targets or {}).items()}
        self.data = data
        self.config = config
        self.weights = weights
        self.device = device
        self.checkpoint_path = checkpoint_path
        self.progress = progress
        self.amp = device.type == "cuda"
        self.rng = np.random.default_rng(config.seed)
        self.train_idx, self.val_idx = self._split()
        if config.batch_size is None:
            largest = max((len(v) for v in self.train_idx.values()), default=0)
            self.config = config = replace(config, batch_size=512 if largest >= SMALL_DATA_CELLS else 256)
        self.anchors_train, self.anchors_val = self._split_anchors(anchors)
        self.sampler = EpochSampler({k: len(v) for k, v in self.train_idx.items()}, config.batch_size, self.rng)
        self.history: list[dict[str, float]] = []
        self.stage = STAGES[0]
        self.epoch = 0
        self.best: float = float("inf")
        self.best_state: dict | None = None
        self.bad_epochs = 0
        self._stop_requested: int | None = None  # the signal number once SIGTERM/SIGINT arrived
        self._oom_retries = 0
        self._val_features: dict[str, np.ndarray] = {}
        self._new_optimisers()

    # ------------------------------------------------------------------ setup
    def _split(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        train, val = {}, {}
        for name, d in self.data.items():
            perm = self.rng.permutation(d.n_cells)
            # held-out cells, capped so one validation pass fits in memory; tiny domains validate on all cells
            n_val = min(int(round(d.n_cells * self.config.val_fraction)), self.config.max_val_cells)
            n_val = n_val if d.n_cells >= 50 else 0
            train[name] = np.sort(perm[n_val:])
            val[name] = np.sort(perm[:n_val] if n_val else perm[: self.config.max_val_cells])
        return train, val

    def _split_anchors(self, anchors: list[AnchorPairs]) -> tuple[list[AnchorPairs], list[AnchorPairs]]:
        train, val = [], []
        for a in anchors:
            is_val = np.isin(a.idx_a, self.val_idx[a.domain_a]) & np.isin(a.idx_b, self.val_idx[a.domain_b])
            if (~is_val).sum():
                train.append(a.subset(~is_val))
            if is_val.sum():
                val.append(a.subset(np.flatnonzero(is_val)[: self.config.max_val_cells]))
        return train, val

    def _new_optimisers(self) -> None:
        cfg = self.config
        gen_params = [p for n, p in self.net.named_parameters() if not n.startswith("discriminator.")]
        # fused AdamW (CPU and CUDA): one kernel over all parameters; on CPU 7x faster per step than the
        # per-tensor loop, which took a fifth of SNARE-seq training time
        self.opt = torch.optim.AdamW(gen_params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        self.opt_d = torch.optim.AdamW(
            self.net.discriminator.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True
        )
        self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.opt, factor=cfg.lr_factor, patience=cfg.lr_patience
        )

    # ------------------------------------------------------------------ losses
    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _objective(self, batch: dict[str, np.ndarray], anchors: list[AnchorPairs], *, train: bool) -> dict:
        joint = self.stage == "align"
        w = self.weights
        terms: dict[str, torch.Tensor] = {}
        zs, labels = [], []
        total = torch.zeros((), device=self.device)
        with self._autocast():
            for name, idx in batch.items():
                feats = self._feature_subset(name, train=train)
                x, counts, lib = self.data[name].tensors(idx, self.device, feats)
                feats_t = None if feats is None else torch.from_numpy(feats).to(self.device)
                out = self.net.vae_terms(name, x, counts, lib, joint=joint, features=feats_t)
                # per-feature scale: the NLL over the features decoded, the KL over all of the domain's features
                nll = out["nll"].float().mean() / counts.shape[1]
                kl = out["kl"].float().mean() / self.data[name].counts.shape[1]
                terms[f"nll_{name}"] = nll
                terms[f"kl_{name}"] = kl
                total = total + nll + w.kl * kl
                if joint:
                    cyc = out["cycle"].float().mean()
                    terms[f"cycle_{name}"] = cyc
                    total = total + w.cycle * cyc
                    if name in self.targets:
                        target = torch.from_numpy(self.targets[name][idx]).to(self.device)
                        prior = (out["z"].float() - target).pow(2).mean()
                        terms[f"prior_{name}"] = prior
                        total = total + w.prior * prior
                    zs.append(out["z"].float())
                    labels.append(self.net.domain_index(name))
            if joint and len(zs) > 1:
                adv = self.net.discriminator_loss(zs, labels)
                terms["discriminator"] = adv
                total = total - w.adversarial * adv
            if joint and anchors:
                anc = self._anchor_loss(anchors, train=train)
                terms["anchor"] = anc
                total = total + w.anchor * anc
        terms["total"] = total
        return {"terms": terms, "zs": zs, "labels": labels}

    def _feature_subset(self, name: str, *, train: bool = True) -> np.ndarray | None:
        """A random subset of features to decode this step (factorised likelihoods with many features).

        Validation decodes one subset per domain, drawn once from its own seeded generator (not ``self.rng``,
        so training draws and resumed runs are unchanged): bounded cost, and epochs stay comparable.
        """
        n = self.data[name].counts.shape[1]
        k = self.config.decoded_features
        if not self.net.vaes[name].factorised or k <= 0 or n <= k:
            return None
        if train:
            return np.sort(self.rng.choice(n, k, replace=False))
        if name not in self._val_features:
            gen = np.random.default_rng([self.config.seed, self.net.domain_index(name)])
            self._val_features[name] = np.sort(gen.choice(n, k, replace=False))
        return self._val_features[name]

    def _anchor_loss(self, anchors: list[AnchorPairs], *, train: bool) -> torch.Tensor:
        losses = []
        for a in anchors:
            take = self.rng.integers(0, len(a), self.config.batch_size) if train else np.arange(len(a))
            xa = torch.from_numpy(self.data[a.domain_a].inputs[a.idx_a[take]]).to(self.device)
            xb = torch.from_numpy(self.data[a.domain_b].inputs[a.idx_b[take]]).to(self.device)
            wt = torch.from_numpy(a.weight[take].astype(np.float32)).to(self.device)
            za = self.net.joint_embedding(a.domain_a, xa).float()
            zb = self.net.joint_embedding(a.domain_b, xb).float()
            losses.append(anchor_distance(za, zb, wt))
        return torch.stack(losses).mean()

    # ------------------------------------------------------------------ loop
    def _train_epoch(self) -> dict[str, float]:
        self.net.train()
        sums: dict[str, float] = {}
        steps = self.sampler.epoch(self.train_idx)
        n_parts = 0
        self._oom_retries = 0
        for batch in steps:
            for terms in self._step_or_split(batch):
                n_parts += 1
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v
        return {k: v / n_parts for k, v in sums.items()}

    def _step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One optimisation step (generator, then discriminator) on ``batch``; returns the loss terms."""
        res = self._objective(batch, self.anchors_train, train=True)
        self.opt.zero_grad(set_to_none=True)
        res["terms"]["total"].backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip)
        self.opt.step()
        if len(res["zs"]) > 1:  # discriminator step on the detached joint points of this batch
            d_loss = self.net.discriminator_loss([z.detach() for z in res["zs"]], res["labels"])
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.discriminator.parameters(), self.config.grad_clip)
            self.opt_d.step()
        return {k: float(v.detach()) for k, v in res["terms"].items()}

    def _step_or_split(self, batch: dict[str, np.ndarray]) -> list[dict[str, float]]:
        """:meth:`_step`; on GPU out-of-memory, halve the batch size and retry the batch in pieces that size.

        Later batches (and epochs) use the halved size; ``history`` records it with the number of halvings.
        """
        n = max(len(v) for v in batch.values())
        try:
            return [self._step(batch)]
        except torch.cuda.OutOfMemoryError:
            if n <= self.config.batch_size:  # a piece left from a larger batch just needs cutting
                self._halve_batch_size()
        size = self.config.batch_size
        pieces = [{k: v[i : i + size] for k, v in batch.items()} for i in range(0, n, size)]
        return [terms for piece in pieces for terms in self._step_or_split(piece)]

    def _halve_batch_size(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        old = self.config.batch_size
        if old <= 1:
            msg = (
                f"out of memory on {self.device} even with a batch of 1 cell. Fix: use --device cpu, a GPU with "
                "more free memory, or fewer features per sample."
            )
            raise InputError(msg)
        self.config = replace(self.config, batch_size=old // 2)
        self.sampler.batch_size = self.config.batch_size
        self._oom_retries += 1
        log.warning(
            "%s epoch %d: out of memory on %s with batch size %d; retrying with batch size %d",
            self.stage, self.epoch + 1, self.device, old, self.config.batch_size,
        )

    @torch.no_grad()
    def _validate(self) -> dict[str, float]:
        """The stage's objective on held-out cells (a fixed subset, so epochs are comparable)."""
        self.net.eval()
        res = self._objective(self.val_idx, self.anchors_val, train=False)
        return {k: float(v) for k, v in res["terms"].items()}

    def fit(self, *, resume: bool = False) -> list[dict[str, float]]:
        """Train both stages (or continue from the checkpoint when ``resume``); returns the history."""
        if resume:
            self._load_checkpoint()
        self._install_signal_handlers()
        try:
            while self.stage is not None:
                self._run_stage()
        finally:
            self._restore_signal_handlers()
        return self.history

    def _run_stage(self) -> None:
        cfg = self.config
        max_epochs = cfg.max_epochs_pretrain if self.stage == "pretrain" else cfg.max_epochs_align
        if cfg.max_steps > 0:
            max_epochs = min(max_epochs, max(1, -(-cfg.max_steps // self.sampler.n_steps())))
        while self.epoch < max_epochs:
            tr = self._train_epoch()
            va = self._validate()
            self.epoch += 1
            row = {"stage": STAGES.index(self.stage) + 1, "epoch": self.epoch, "lr": self.opt.param_groups[0]["lr"]}
            row.update({"batch_size": self.config.batch_size, "oom_retries": self._oom_retries})
            row.update({f"train_{k}": v for k, v in tr.items()})
            row.update({f"val_{k}": v for k, v in va.items()})
            self.history.append(row)
            self.sched.step(va["total"])
            if va["total"] < self.best - 1e-4:
                self.best, self.bad_epochs = va["total"], 0
                self.best_state = copy.deepcopy(self.net.state_dict())
            else:
                self.bad_epochs += 1
            stop = self.bad_epochs >= cfg.patience
            # the stage's last epoch needs no save of its own: _end_stage saves right after it
            last = stop or self.epoch >= max_epochs
            if self.progress:
                losses = {"train": tr["total"], "val": va["total"]}
                self.progress(self.stage, self.epoch, max_epochs, losses, last)
            if self._stop_requested or (self.epoch % cfg.checkpoint_every == 0 and not last):
                self.save_checkpoint()
            if self._stop_requested:
                raise StoppedBySignal(self._stop_requested, self.checkpoint_path)
            if stop:
                log.info("%s: early stop at epoch %d (best validation objective %.4f)", self.stage, self.epoch, self.best)
                break
        self._end_stage()

    def _end_stage(self) -> None:
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)
        nxt = STAGES.index(self.stage) + 1
        self.stage = STAGES[nxt] if nxt < len(STAGES) else None
        self.epoch, self.best, self.best_state, self.bad_epochs = 0, float("inf"), None, 0
        if self.stage is not None:
            self._new_optimisers()
        self.save_checkpoint()

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched": self.sched.state_dict(),
            "stage": self.stage or "done",
            "epoch": self.epoch,
            "best": self.best,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "config": asdict(self.config),
        }

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(self._state(), tmp)

    def _load_checkpoint(self) -> None:
        if self.checkpoint_path is None or not Path(self.checkpoint_path).exists():
            log.info("--resume: no checkpoint at %s, starting from scratch", self.checkpoint_path)
            return
        try:
            self._restore(torch.load(self.checkpoint_path, map_location=self.device, weights_only=True))
        except Exception as err:  # noqa: BLE001 - damaged, or of another model or version: any failure
            msg = (
                f"--resume: checkpoint {self.checkpoint_path} cannot be restored ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}): it is damaged or was written for other samples, "
                "settings or crossomics version. Fix: delete it to train from scratch, or rerun without --resume."
            )
            raise InputError(msg) from None
        log.info("resumed from %s: stage %s, epoch %d", self.checkpoint_path, self._resumed_stage, self.epoch)

    def _restore(self, st: dict) -> None:
        self.net.load_state_dict(st["net"])
        self.stage = None if st["stage"] == "done" else st["stage"]
        saved_batch = st.get("config", {}).get("batch_size", self.config.batch_size)
        if saved_batch < self.config.batch_size:  # halved after an out-of-memory error: keep it halved
            self.config = replace(self.config, batch_size=saved_batch)
            self.sampler.batch_size = saved_batch
        if self.stage is not None:
            self._new_optimisers()
            self.opt.load_state_dict(st["opt"])
            self.opt_d.load_state_dict(st["opt_d"])
            self.sched.load_state_dict(st["sched"])
        self.epoch, self.best, self.best_state = st["epoch"], st["best"], st["best_state"]
        self.bad_epochs, self.history = st["bad_epochs"], list(st["history"])
        torch.set_rng_state(st["torch_rng"].cpu())
        self.rng.bit_generator.state = st["numpy_rng"]
        self._resumed_stage = st["stage"]

    # ------------------------------------------------------------------ signals
    def _install_signal_handlers(self) -> None:
        self._old_handlers = {}

        def handler(signum, frame):  # noqa: ARG001
            self._stop_requested = signum
            log.warning("signal %d: stopping after this epoch's checkpoint", signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old_handlers[sig] = signal.signal(sig, handler)
            except ValueError:  # not in the main thread
                pass

    def _restore_signal_handlers(self) -> None:
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
