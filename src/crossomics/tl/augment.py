"""Augmentation: add synthetic cells to the rare cell types of a dataset, drawn from the model.

The dataset's own cells define each type: they are embedded in the joint space, new points are drawn around
them (a Gaussian kernel whose covariance is the type's own, shrunk towards the pooled within-type one, so a
type of a handful of cells still works), decoded by the model and sampled as counts with library sizes
resampled from the type's real cells and the dispersion of the input's counts around the decoded means.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .. import __version__
from .._keys import KEYS
from ..errors import InputError
from ..model import CrossModel
from ..model.inputs import select_counts
from ..nn.distributions import sample_counts
from .generate import MIN_MATCHED, embed
from .latent_prior import calibrated_log_theta

log = logging.getLogger("crossomics")

BANDWIDTH = 0.5  # kernel scale relative to the type's spread in the joint space


def _kernel_draw(
    z: np.ndarray, labels: np.ndarray, wanted: dict[str, int], rng: np.random.Generator, bandwidth: float
):
    """Points around randomly chosen cells of each wanted type (type covariance shrunk to the pooled one)."""
    d = z.shape[1]
    centred = np.vstack([z[labels == t] - z[labels == t].mean(0) for t in np.unique(labels)])
    pooled = np.cov(centred, rowvar=False) if len(centred) > 1 else np.eye(d)
    points, seeds = [], []
    for t, n in wanted.items():
        idx = np.flatnonzero(labels == t)
        own = np.cov(z[idx], rowvar=False) if len(idx) > 1 else np.zeros((d, d))
        cov = (len(idx) * own + d * pooled) / (len(idx) + d)
        chol = np.linalg.cholesky(bandwidth**2 * cov + 1e-6 * np.eye(d))
        pick = rng.choice(idx, n)
        points.append(z[pick] + rng.standard_normal((n, d)) @ chol.T)
        seeds.append(pick)
    return np.vstack(points).astype(np.float32), np.concatenate(seeds)


def augment(
    model: CrossModel,
    adata: AnnData,
    *,
    modality: str,
    min_cells: int,
    cell_type_key: str = KEYS.cell_type,
    bandwidth: float = BANDWIDTH,
    seed: int = 0,
    min_matched: float = MIN_MATCHED,
    model_path: str = "",
    input_name: str = "input",
) -> AnnData:
    """Top up every cell type of ``adata`` with fewer than ``min_cells`` cells with synthetic cells.

    Parameters
    ----------
    model
        A trained model that knows ``modality``.
    adata
        Cells of ``modality``: raw counts (``layers["counts"]`` or ``X``), labels in ``obs[cell_type_key]``.
    modality
        Modality name or sample id of the model.
    min_cells
        Target number of cells per type; types at or above it are left alone.
    bandwidth
        Kernel scale (relative to the type's spread in the joint space) of the synthetic points.
    seed
        Seeds the points, library sizes and counts.

    Returns
    -------
    A new AnnData over the model's features of ``modality``: the real cells (counts restricted to those
    features, missing ones zero) followed by the synthetic ones (``synthetic_<i>``).

    - ``X`` and ``layers["counts"]``: raw counts (CSR float32);
    - ``obs``: the input's columns, ``obs["synthetic"]`` (False for real cells, True for added ones);
    - ``obsm["X_crossomics"]``: joint embedding of the real cells, and the synthetic cells' drawn points;
    - ``uns["crossomics_augment"]``: model, modality, sample, min_cells, cells added per type, seed, version.
    """
    if cell_type_key not in adata.obs:
        msg = f"{input_name}: no obs[{cell_type_key!r}]; augmentation tops up cell types: label cells first."
        raise InputError(msg)
    if min_cells < 1:
        msg = f"--min-cells {min_cells} must be at least 1."
        raise InputError(msg)
    domain = model.resolve_domain(modality)
    info = model.domains[domain]
    labels = adata.obs[cell_type_key].astype(str).to_numpy()
    present = pd.Series(labels).value_counts()
    wanted = {str(t): int(min_cells - n) for t, n in present.sort_index().items() if n < min_cells}
    counts, _ = select_counts(adata, info.features, source=input_name)
    real = adata.obs.copy()
    real[KEYS.synthetic] = False
    added = {}
    rng = np.random.default_rng(seed)
    z, _ = embed(model, adata, domain, source=input_name, min_matched=min_matched)
    latent = z
    if wanted:
        points, origin = _kernel_draw(z, labels, wanted, rng, bandwidth)
        latent = np.vstack([z, points])
        new_labels = labels[origin]
        real_library = np.asarray(counts.sum(1)).ravel()
        library = np.empty(len(points), dtype=np.float32)
        for t in wanted:  # library sizes resampled within the type
            mask = new_labels == t
            library[mask] = rng.choice(real_library[labels == t], mask.sum())
        mean = model.decode(points, domain, library=library)
        log_theta = calibrated_log_theta(model, domain, z, counts) if info.likelihood == "nb" else None
        synth = sp.csr_matrix(sample_counts(mean, info.likelihood, log_theta=log_theta, rng=rng))
        names = pd.Index([f"synthetic_{i}" for i in range(len(points))])
        if names.isin(adata.obs_names).any():
            names = pd.Index([f"{input_name}_{n}" for n in names])
        obs_new = pd.DataFrame({cell_type_key: new_labels, KEYS.synthetic: True}, index=names)
        counts = sp.vstack([counts, synth], format="csr")
        real = pd.concat([real, obs_new])
        added = {t: int(n) for t, n in wanted.items()}
    real[cell_type_key] = real[cell_type_key].astype(str).astype("category")
    out = AnnData(
        counts.astype(np.float32), obs=real, var=pd.DataFrame(index=pd.Index(info.features, dtype=str))
    )
    out.layers[KEYS.counts] = out.X.copy()
    out.obsm[KEYS.latent] = latent.astype(np.float32)
    out.uns[KEYS.augment] = {
        "model": model_path,
        "modality": info.modality,
        "sample": domain,
        "min_cells": int(min_cells),
        "cells_added": added,
        "seed": int(seed),
        "version": __version__,
    }
    log.info("augment: added %d synthetic cells to %d cell types", sum(added.values()), len(added))
    return out


def run_augment(
    model_dir: str | Path,
    input_path: str | Path,
    out: str | Path,
    *,
    modality: str,
    min_cells: int,
    seed: int = 0,
    device: str = "auto",
) -> dict[str, int]:
    """``crossomics augment``: read, augment, write ``out`` (h5ad); returns cells added per type."""
    from ..io.read import read_matrix
    from ..io.write import write_h5ad
    from .generate import load_model

    model = load_model(model_dir, device=device)
    adata = read_matrix(input_path, modality=model.domains[model.resolve_domain(modality)].modality)
    result = augment(
        model,
        adata,
        modality=modality,
        min_cells=min_cells,
        seed=seed,
        model_path=str(model_dir),
        input_name=str(input_path),
    )
    write_h5ad(result, out)
    return result.uns[KEYS.augment]["cells_added"]
