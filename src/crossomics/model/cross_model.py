"""CrossModel: wiring between AnnData, the torch network (``module``) and the trainer (``train``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from anndata import AnnData

from .._keys import KEYS, MODALITY_ATAC
from ..errors import InputError
from ..io.backed import Counts, column_sums, max_value, row_sums
from ..module.network import Architecture, CrossNetwork, DomainSpec
from ..priors.joint_prior import joint_prior
from ..settings import resolve_device, seed_everything, set_threads
from ..train import AnchorPairs, DomainData, LossWeights, TrainConfig, Trainer
from .inputs import encoder_inputs, reduced_from_counts, select_counts, smoothing_graph, stored_reduction

CHUNK = 8192  # cells per chunk when projecting or encoding many cells


def feature_rate(counts: Counts, likelihood: str) -> np.ndarray:
    """Each feature's overall level in the training cells: fraction of cells with it (Bernoulli), share of all
    counts (NB) or mean (normal), for :meth:`ModalityVAE.init_feature_bias` (counts on disk are streamed)."""
    n_cells = max(counts.shape[0], 1)
    if likelihood == "bernoulli":
        return (column_sums(counts, binary=True) / n_cells).astype(np.float32)
    total = column_sums(counts)
    if likelihood == "nb":
        return (total / max(total.sum(), 1e-12)).astype(np.float32)
    return (total / n_cells).astype(np.float32)


def likelihood_for(modality: str, counts: Counts, *, non_counts: bool = False) -> str:
    """Bernoulli for ATAC and other binary data, Normal for non-count values, else negative binomial."""
    if non_counts:
        return "normal"
    if modality == MODALITY_ATAC or 0 < max_value(counts) <= 1:
        return "bernoulli"
    return "nb"


@dataclass
class DomainInfo:
    """What the model keeps about one domain (one sample of one modality)."""

    name: str
    modality: str
    likelihood: str
    features: list[str]
    preprocess: dict[str, Any]
    n_input: int
    library_median: float
    cell_types: list[str] = field(default_factory=list)


class CrossModel:
    """scCross-style multi-omics model: per-modality VAEs, aligners into one joint space, a discriminator.

    Typical use::

        model = CrossModel.from_preprocessed({"rna": rna, "atac": atac})
        model.fit({"rna": rna, "atac": atac}, anchors)
        z = model.get_latent(rna, "rna")
    """

    def __init__(
        self,
        domains: list[DomainInfo],
        *,
        arch: Architecture | None = None,
        smooth_neighbors: int = 15,
        seed: int = 0,
    ) -> None:
        self.domains = {d.name: d for d in domains}
        self.arch = arch or Architecture()
        self.smooth_neighbors = smooth_neighbors
        specs = [DomainSpec(d.name, d.n_input, len(d.features), d.likelihood) for d in domains]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # initial weights depend on the seed only, not on earlier draws
            self.net = CrossNetwork(specs, self.arch)
        self.device = torch.device("cpu")
        self.history: list[dict[str, float]] = []
        self.train_config: TrainConfig | None = None
        self.loss_weights: LossWeights | None = None
        # encoder inputs of the training cells, kept by fit (not saved): training_latent embeds them again
        # without repeating the projection and the kNN search of smoothing
        self.training_inputs: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preprocessed(
        cls,
        adatas: dict[str, AnnData],
        modalities: dict[str, str] | None = None,
        *,
        arch: Architecture | None = None,
        smooth_neighbors: int = 15,
        non_counts: frozenset[str] = frozenset(),
        seed: int = 0,
    ) -> CrossModel:
        """Size the network from preprocessed samples (``preprocess/<sample>.h5ad``), keyed by sample id."""
        infos = []
        for name, adata in adatas.items():
            if KEYS.preprocess not in adata.uns:
                msg = f"sample {name}: not preprocessed (no uns['{KEYS.preprocess}']); run `crossomics preprocess` first."
                raise InputError(msg)
            params = dict(adata.uns[KEYS.preprocess])
            modality = (modalities or {}).get(name, params.get("modality", name))
            features = list(adata.var_names[np.asarray(adata.var[KEYS.highly_variable], dtype=bool)])
            counts, _ = select_counts(adata, features, source=f"sample {name}")
            n_red = int(np.asarray(params["loadings"]).shape[1])
            n_input = n_red * (2 if smooth_neighbors > 1 else 1)
            cell_types = (
                sorted(map(str, adata.obs[KEYS.cell_type].dropna().unique())) if KEYS.cell_type in adata.obs else []
            )
            infos.append(
                DomainInfo(
                    name=name,
                    modality=modality,
                    likelihood=likelihood_for(modality, counts, non_counts=name in non_counts),
                    features=features,
                    preprocess=params,
                    n_input=n_input,
                    library_median=float(np.median(row_sums(counts))),
                    cell_types=cell_types,
                )
            )
        return cls(infos, arch=arch, smooth_neighbors=smooth_neighbors, seed=seed)

    # ------------------------------------------------------------------ domains and inputs
    def resolve_domain(self, name: str) -> str:
        """A domain id from a sample id or a modality name (the first sample of that modality)."""
        if name in self.domains:
            return name
        for d in self.domains.values():
            if d.modality == name:
                return d.name
        known = ", ".join(f"{d.name} ({d.modality})" for d in self.domains.values())
        msg = f"the model has no sample or modality named {name!r}; it was trained on: {known}."
        raise InputError(msg)

    def reduced(self, adata: AnnData, domain: str) -> tuple[np.ndarray, int]:
        """Reduced representation of ``adata``'s raw counts in the domain's fitted basis, and missing features."""
        info = self.domains[domain]
        counts, missing = select_counts(adata, list(map(str, info.preprocess["features"])), source=f"{domain} input")
        parts = [reduced_from_counts(counts[i : i + CHUNK], info.preprocess) for i in range(0, counts.shape[0], CHUNK)]
        return np.vstack(parts), missing

    def smoothing_graph(self, reduced: np.ndarray) -> sp.csr_matrix | None:
        """The kNN graph used to smooth encoder inputs among the given cells (None when smoothing is off)."""
        return smoothing_graph(reduced, self.smooth_neighbors)

    def inputs_from_reduced(self, reduced: np.ndarray, graph: sp.csr_matrix | None = None) -> np.ndarray:
        """Encoder inputs (reduced representation + kNN-smoothed copy) for the given cells.

        ``graph`` defaults to the cells' own kNN graph; pass the unperturbed cells' graph when encoding
        perturbed copies of them.
        """
        if graph is None:
            graph = self.smoothing_graph(reduced)
        return encoder_inputs(reduced, graph)

    def training_data(self, adatas: dict[str, AnnData]) -> tuple[dict[str, DomainData], dict[str, np.ndarray]]:
        """Per-domain training data and reduced representations of the training cells.

        The reduced representation is the sample's stored one when preprocessing wrote it with the domain's
        parameters (:func:`~crossomics.model.inputs.stored_reduction`), else the projection of its counts.
        """
        data, reduced = {}, {}
        for name, info in self.domains.items():
            stored = stored_reduction(adatas[name], info.preprocess)
            reduced[name] = stored if stored is not None else self.reduced(adatas[name], name)[0]
            counts, _ = select_counts(adatas[name], info.features, source=f"sample {name}")
            data[name] = DomainData(name, self.inputs_from_reduced(reduced[name]), counts)
        return data, reduced

    # ------------------------------------------------------------------ training
    def fit(
        self,
        adatas: dict[str, AnnData],
        anchors: list[AnchorPairs] | None = None,
        *,
        config: TrainConfig | None = None,
        weights: LossWeights | None = None,
        device: str = "auto",
        checkpoint: Path | None = None,
        resume: bool = False,
        progress: Callable[[str, int, int, dict[str, float], bool], None] | None = None,
        threads: int | None = None,
    ) -> CrossModel:
        """Train both stages; ``adatas`` are the preprocessed samples keyed by domain id.

        ``threads``: torch CPU threads (default: the usable cores, see :func:`crossomics.settings.set_threads`).
        """
        self.train_config = config or TrainConfig()
        self.loss_weights = weights or LossWeights()
        seed_everything(self.train_config.seed)
        set_threads(threads)
        self.device = resolve_device(device)
        data, reduced = self.training_data(adatas)
        self.training_inputs = {name: d.inputs for name, d in data.items()}
        # every MNN pair, not only the high-score anchors, shapes the anchor-guided CCA target and the anchor
        # loss: breadth beats precision (SNARE-seq FOSCTTM 0.121 with all 127k pairs, 0.131 with the 5.7k
        # pairs flagged as anchors in the loss)
        targets = joint_prior(reduced, anchors or [], n_dims=self.arch.n_joint)
        if not resume:
            for name, d in data.items():
                vae = self.net.vaes[name]
                vae.init_feature_bias(torch.from_numpy(feature_rate(d.counts, vae.likelihood)))
        trainer = Trainer(
            self.net,
            data,
            anchors or [],
            config=self.train_config,
            weights=self.loss_weights,
            device=self.device,
            checkpoint_path=checkpoint,
            progress=progress,
            targets=targets,
        )
        self.history = trainer.fit(resume=resume)
        self.train_config = trainer.config  # as used: the batch size resolved (or halved after running out of memory)
        self.net.eval()
        return self

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def embed_inputs(self, inputs: np.ndarray, domain: str) -> np.ndarray:
        """Joint embedding (deterministic: encoder means) of encoder inputs of ``domain``."""
        self.net.eval()
        out = []
        for i in range(0, inputs.shape[0], CHUNK):
            x = torch.from_numpy(np.ascontiguousarray(inputs[i : i + CHUNK], dtype=np.float32)).to(self.device)
            out.append(self.net.joint_embedding(domain, x).float().cpu().numpy())
        return np.vstack(out) if out else np.zeros((0, self.arch.n_joint), np.float32)

    def get_latent(self, adata: AnnData, domain: str) -> np.ndarray:
        """Joint embedding of the cells of ``adata`` (raw counts in ``layers["counts"]`` or ``X``)."""
        domain = self.resolve_domain(domain)
        red, _ = self.reduced(adata, domain)
        return self.embed_inputs(self.inputs_from_reduced(red), domain)

    def training_latent(self, domain: str) -> np.ndarray:
        """Joint embedding of the cells ``fit`` trained on in ``domain`` (equal to :meth:`get_latent` on them)."""
        domain = self.resolve_domain(domain)
        if domain not in self.training_inputs:
            msg = f"domain {domain!r}: no training cells in this session; fit the model first, or use get_latent."
            raise InputError(msg)
        return self.embed_inputs(self.training_inputs[domain], domain)

    @torch.no_grad()
    def decode(self, z: np.ndarray, domain: str, *, library: np.ndarray | float | None = None) -> np.ndarray:
        """Expected values of ``domain``'s features at joint points ``z`` (NB means scaled to ``library``)."""
        domain = self.resolve_domain(domain)
        info = self.domains[domain]
        # a writable copy: torch.from_numpy warns on (and must not alias) a broadcast or caller's read-only array
        given = np.asarray(info.library_median if library is None else library, np.float32)
        lib_all = np.array(np.broadcast_to(given, (len(z),)))
        self.net.eval()
        out = []
        for i in range(0, len(z), CHUNK):
            zz = torch.from_numpy(np.ascontiguousarray(z[i : i + CHUNK], dtype=np.float32)).to(self.device)
            lib = torch.from_numpy(np.ascontiguousarray(lib_all[i : i + CHUNK])).to(self.device)
            out.append(self.net.decode_joint(domain, zz, lib).float().cpu().numpy())
        return np.vstack(out) if out else np.zeros((0, len(info.features)), np.float32)

    def log_theta(self, domain: str) -> np.ndarray:
        """Per-feature log inverse dispersion of an NB domain (for sampling counts)."""
        return self.net.vaes[self.resolve_domain(domain)].log_theta.detach().cpu().numpy()

    def to(self, device: str | torch.device) -> CrossModel:
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.net.to(self.device)
        return self

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``weights.pt``, ``preprocess.npz``, ``history.csv`` and ``model.json`` (with checksums)."""
        from .store import save_model

        return save_model(self, Path(path))

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> CrossModel:
        """Load a model folder written by :meth:`save` (checksums verified, ``weights_only=True``)."""
        from .store import load_model

        return load_model(cls, Path(path), device=device)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary: architecture, domains (without arrays), training settings."""
        return {
            "arch": asdict(self.arch),
            "smooth_neighbors": self.smooth_neighbors,
            "train_config": asdict(self.train_config) if self.train_config else None,
            "loss_weights": asdict(self.loss_weights) if self.loss_weights else None,
            "domains": [
                {k: v for k, v in asdict(d).items() if k != "preprocess"} for d in self.domains.values()
            ],
        }

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)
