"""The ``train`` step: preprocessed samples + anchors -> trained model, per-sample latents, MuData, metrics.

One function serves ``crossomics train``, the Nextflow TRAIN process and ``crossomics run``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .._clock import PartClock
from .._keys import KEYS
from .._sampling import seeded_subset
from ..errors import InputError
from ..io.layout import Layout
from ..io.read import read_preprocessed
from ..io.samplesheet import SampleRow
from ..io.write import atomic_path, write_h5ad, write_json
from ..train import AnchorPairs, LossWeights, TrainConfig
from .cross_model import CrossModel

log = logging.getLogger("crossomics")


def load_preprocessed(rows: list[SampleRow], layout: Layout, *, backed: bool = False) -> dict[str, ad.AnnData]:
    """Read ``preprocess/<sample>.h5ad`` of every row (clear error when a step was skipped), without the
    normalised ``X``; with ``backed`` the counts stay on disk (:func:`crossomics.io.read.read_preprocessed`)."""
    out = {}
    for row in rows:
        path = layout.outdir / "preprocess" / f"{row.sample}.h5ad"
        if not path.is_file():
            msg = (
                f"{path}: missing preprocessed file for sample {row.sample!r} (samplesheet row {row.row}). "
                "Run `crossomics preprocess` for it first, or use `crossomics run`, which runs every step."
            )
            raise InputError(msg)
        out[row.sample] = read_preprocessed(path, backed=backed)
    return out


def read_anchors(path: Path, a: ad.AnnData, b: ad.AnnData, name_a: str, name_b: str) -> AnchorPairs | None:
    """Every MNN pair of ``priors/anchors_<a>__<b>.tsv`` as row indices, weight 1 (cells absent after QC are
    dropped). The ``anchor`` flag of high-score pairs is for reporting: on SNARE-seq, uniform weights over all
    pairs align better than score weights or the flagged pairs alone."""
    table = pd.read_csv(path, sep="\t", dtype={"cell_a": str, "cell_b": str})
    missing = {"cell_a", "cell_b", "score"} - set(table.columns)
    if missing:
        msg = f"{path}: anchor table lacks column(s) {sorted(missing)}; expected cell_a, cell_b, score (tab-separated)."
        raise InputError(msg)
    ia = a.obs_names.get_indexer(table["cell_a"])
    ib = b.obs_names.get_indexer(table["cell_b"])
    ok = (ia >= 0) & (ib >= 0)
    if not ok.any():
        return None
    return AnchorPairs(name_a, name_b, ia[ok], ib[ok], np.ones(int(ok.sum())))


def paired_cells(a: ad.AnnData, b: ad.AnnData) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of cells present in both samples (same barcode)."""
    shared = a.obs_names.intersection(b.obs_names)
    return a.obs_names.get_indexer(shared), b.obs_names.get_indexer(shared)


def collect_anchors(
    rows: list[SampleRow], adatas: dict[str, ad.AnnData], layout: Layout, *, paired: bool
) -> list[AnchorPairs]:
    """MNN anchors of every sample pair found under ``priors/``; with ``paired``, shared barcodes too."""
    anchors = []
    for ra, rb in combinations(rows, 2):
        for x, y in ((ra, rb), (rb, ra)):
            path = layout.outdir / "priors" / f"anchors_{x.sample}__{y.sample}.tsv"
            if path.is_file():
                pairs = read_anchors(path, adatas[x.sample], adatas[y.sample], x.sample, y.sample)
                if pairs is not None:
                    anchors.append(pairs)
                break
        if paired and ra.modality != rb.modality:
            ia, ib = paired_cells(adatas[ra.sample], adatas[rb.sample])
            if len(ia):
                anchors.append(AnchorPairs(ra.sample, rb.sample, ia, ib, np.ones(len(ia))))
                log.info("--paired: %d shared barcodes between %s and %s used as anchors", len(ia), ra.sample, rb.sample)
    return anchors


def latent_adata(adata: ad.AnnData, z: np.ndarray, umap: np.ndarray, row: SampleRow) -> ad.AnnData:
    """The sample's cells (same obs_names and obs) with the joint embedding and UMAP."""
    out = ad.AnnData(obs=adata.obs.copy())
    out.obs[KEYS.modality] = row.modality
    out.obs[KEYS.sample] = row.sample
    out.obsm[KEYS.latent] = z.astype(np.float32)
    out.obsm[KEYS.umap] = umap.astype(np.float32)
    return out


UMAP_MAX_CELLS = 50_000  # above this, UMAP is fitted on a random subset and the other cells placed by kNN


def joint_umap(latents: dict[str, np.ndarray], seed: int, *, max_cells: int = UMAP_MAX_CELLS) -> dict[str, np.ndarray]:
    """One UMAP over all samples' joint embeddings, split back per sample.

    Graph and layout are :func:`crossomics.pp.neighbors.neighbor_graph` and :func:`crossomics.tl.umap.umap_layout`
    (no numba compilation). Up to ``max_cells`` cells are laid out together. Above that, a seeded random
    ``max_cells`` are, and every other cell is placed at the mean position of its 10 nearest laid-out cells in
    the joint space (200,000 cells: 27 s on two cores).
    """
    from sklearn.neighbors import NearestNeighbors

    from ..pp.neighbors import neighbor_graph
    from ..tl.umap import umap_layout

    names = list(latents)
    z = np.vstack([latents[k] for k in names]).astype(np.float32)
    fit = seeded_subset(len(z), max_cells, seed)
    laid_out = z[fit]
    layout = umap_layout(laid_out, neighbor_graph(laid_out, n_neighbors=15), seed=seed)
    xy = np.empty((len(z), 2), np.float32)
    xy[fit] = layout
    rest = np.setdiff1d(np.arange(len(z)), fit)
    if rest.size:
        near = NearestNeighbors(n_neighbors=10).fit(laid_out).kneighbors(z[rest], return_distance=False)
        xy[rest] = layout[near].mean(axis=1)
    out, start = {}, 0
    for k in names:
        out[k] = xy[start : start + len(latents[k])]
        start += len(latents[k])
    return out


def write_integration(
    model: CrossModel,
    rows: list[SampleRow],
    adatas: dict[str, ad.AnnData],
    layout: Layout,
    *,
    seed: int,
    clock: PartClock | None = None,
) -> dict[str, ad.AnnData]:
    """Write ``integration/<sample>.latent.h5ad`` and ``integration/crossomics.h5mu`` of the cells ``model`` was
    just fitted on; return the latents. ``clock`` gets parts ``umap`` (the joint UMAP) and ``integration`` (the
    rest)."""
    import mudata as md

    clock = clock or PartClock()
    with clock.part("integration"):
        z = {r.sample: model.training_latent(r.sample) for r in rows}
    with clock.part("umap"):
        umap = joint_umap(z, seed)
    with clock.part("integration"):
        latents = {r.sample: latent_adata(adatas[r.sample], z[r.sample], umap[r.sample], r) for r in rows}
        for sample, lat in latents.items():
            write_h5ad(lat, layout.latent(sample))
        mdata = md.MuData({k: v.copy() for k, v in latents.items()})
        with atomic_path(layout.mudata()) as tmp:
            mdata.write(str(tmp))
    return latents


def evaluate(rows: list[SampleRow], latents: dict[str, ad.AnnData], *, seed: int) -> dict[str, object]:
    """Integration metrics from the latents: pairing (shared barcodes across modalities) and cell types."""
    from ..metrics import integration_metrics

    emb = {r.sample: latents[r.sample].obsm[KEYS.latent] for r in rows}
    labels = {
        r.sample: latents[r.sample].obs[KEYS.cell_type].astype(str).to_numpy()
        if KEYS.cell_type in latents[r.sample].obs
        else None
        for r in rows
    }
    pairs = []
    for ra, rb in combinations(rows, 2):
        if ra.modality != rb.modality:
            ia, ib = paired_cells(latents[ra.sample], latents[rb.sample])
            if len(ia) >= 10:
                pairs.append((ra.sample, rb.sample, ia, ib))
    return integration_metrics(emb, labels, pairs=pairs, seed=seed)


def run_train(
    rows: list[SampleRow],
    layout: Layout,
    *,
    device: str = "auto",
    seed: int = 0,
    max_epochs: int | None = None,
    resume: bool = False,
    paired: bool = False,
    backed: bool = False,
    threads: int | None = None,
    config: TrainConfig | None = None,
    weights: LossWeights | None = None,
    progress: Callable[[str, int, int, dict[str, float], bool], None] | None = None,
    evaluate_metrics: bool = True,
    clock: PartClock | None = None,
) -> dict[str, object]:
    """Train on the preprocessed samples of ``rows`` and write ``model/``, ``integration/`` and metrics.

    ``backed``: minibatch counts are read from ``preprocess/<sample>.h5ad`` on disk (same results, less memory).
    ``threads``: torch CPU threads (:func:`crossomics.settings.set_threads`; default: the usable cores).
    ``clock`` gets the seconds of the parts ``fit``, ``integration``, ``umap`` (:func:`write_integration`),
    ``simulation_prior`` and ``metrics``.
    """
    clock = clock or PartClock()
    adatas = load_preprocessed(rows, layout, backed=backed)
    config = replace(config or TrainConfig(), seed=seed)
    if max_epochs is not None:
        config = replace(
            config,
            max_epochs_pretrain=min(config.max_epochs_pretrain, max_epochs),
            max_epochs_align=min(config.max_epochs_align, max_epochs),
        )
    anchors = collect_anchors(rows, adatas, layout, paired=paired)
    non_counts = frozenset(r.sample for r in rows if r.allow_non_counts)
    model = CrossModel.from_preprocessed(
        adatas, {r.sample: r.modality for r in rows}, non_counts=non_counts, seed=seed
    )
    model_dir = layout.model_dir()
    with clock.part("fit"):
        model.fit(
            adatas,
            anchors,
            config=config,
            weights=weights,
            device=device,
            checkpoint=model_dir / "checkpoint.pt",
            resume=resume,
            progress=progress,
            threads=threads,
        )
        model.save(model_dir)
    latents = write_integration(model, rows, adatas, layout, seed=seed, clock=clock)
    # the simulation prior travels inside model/, so SIMULATE (Nextflow) needs nothing but the model folder
    from ..tl.latent_prior import fit_latent_prior, save_latent_prior

    with clock.part("simulation_prior"):
        save_latent_prior(fit_latent_prior(model, latents, adatas, seed=seed), model_dir)
    summary: dict[str, object] = {
        "n_anchor_pairs": int(sum(len(a) for a in anchors)),
        "epochs": len(model.history),
        "device": str(model.device),
    }
    if evaluate_metrics:
        with clock.part("metrics"):
            metrics = evaluate(rows, latents, seed=seed)
            write_json(metrics, layout.metrics("integration"))
        summary["metrics"] = metrics
    return summary
