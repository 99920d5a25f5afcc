"""Where simulated cells come from: a Gaussian mixture per cell type (and condition) in the joint space.

The prior is fitted to the joint embeddings of the training cells of every sample (the aggregated posterior,
summarised), together with each sample's library sizes per group, and stored beside the model as
``latent_prior.json`` + ``latent_prior.npz``. Without those files it is fitted on the fly from
``DIR/integration/<sample>.latent.h5ad`` (and ``DIR/preprocess/<sample>.h5ad`` for library sizes).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import numpy as np
from anndata import AnnData

from .. import __version__
from .._keys import KEYS
from ..errors import InputError
from ..io.backed import Counts, row_sums
from ..io.write import atomic_path, write_json
from ..model import CrossModel
from ..model.inputs import select_counts

log = logging.getLogger("crossomics")

PRIOR_JSON = "latent_prior.json"
PRIOR_NPZ = "latent_prior.npz"
UNLABELLED = "all"  # the one group when no sample has cell types
MAX_COMPONENTS = 5
CELLS_PER_COMPONENT = 50
N_QUANTILES = 33  # library-size quantiles kept per group and sample
MIN_LIBRARY_CELLS = 5  # fewer cells of a group in a sample: use the sample's overall library sizes
THETA_MIN, THETA_MAX = 1e-2, 1e4  # range of calibrated NB inverse dispersions


@dataclass
class LatentPrior:
    """Per group (cell type, condition): mixture weights, means, Cholesky factors; per sample: libraries."""

    cell_types: list[str]
    conditions: list[str | None]
    n_cells: list[int]
    weights: list[np.ndarray]
    means: list[np.ndarray]
    chols: list[np.ndarray]
    library_quantiles: dict[str, np.ndarray] = field(default_factory=dict)  # sample -> groups x N_QUANTILES
    log_theta: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # NB sample -> calibrated log inverse dispersion
    weights_sha256: str = ""

    def sample(self, group: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` joint points from group ``group``'s mixture."""
        comp = rng.choice(len(self.weights[group]), size=n, p=self.weights[group])
        eps = rng.standard_normal((n, self.means[group].shape[1]))
        return (self.means[group][comp] + np.einsum("nij,nj->ni", self.chols[group][comp], eps)).astype(
            np.float32
        )

    def library(self, sample: str, group: int, n: int, rng: np.random.Generator) -> np.ndarray | None:
        """``n`` library sizes of ``sample`` for cells of ``group`` (None when the prior has none for it).

        Library sizes are counts over the decoded features (NB), or features detected (Bernoulli).
        """
        if sample not in self.library_quantiles:
            return None
        q = self.library_quantiles[sample][group]
        return np.interp(rng.random(n), np.linspace(0, 1, len(q)), q).astype(np.float32)


def _group_labels(adata: AnnData) -> tuple[np.ndarray, np.ndarray]:
    n = adata.n_obs
    types = (
        adata.obs[KEYS.cell_type].astype(str).to_numpy()
        if KEYS.cell_type in adata.obs
        else np.full(n, UNLABELLED)
    )
    cond = adata.obs[KEYS.condition].astype(str).to_numpy() if KEYS.condition in adata.obs else np.full(n, "")
    return types, cond


def _fit_mixture(z: np.ndarray, pooled: np.ndarray, *, max_components: int, per_component: int, seed: int):
    """Mixture of one group; each covariance shrunk towards the pooled within-group covariance."""
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    d = z.shape[1]
    k = int(np.clip(len(z) // per_component, 1, max_components))
    if len(z) < 2:
        weights, means, covs = np.ones(1), z[:1].astype(np.float64), pooled[None]
        counts = np.ones(1)
    else:
        with threadpool_limits(1):  # small fits: threads on shared cores only add waiting
            gmm = GaussianMixture(
                k, covariance_type="full", reg_covar=1e-4, random_state=seed, max_iter=200
            ).fit(z)
        weights, means, covs = gmm.weights_, gmm.means_, gmm.covariances_
        counts = weights * len(z)
    covs = np.stack([(n * c + d * pooled) / (n + d) for n, c in zip(counts, covs, strict=True)])
    return weights / weights.sum(), means, np.linalg.cholesky(covs + 1e-6 * np.eye(d))


def fit_latent_prior(
    model: CrossModel,
    latents: dict[str, AnnData],
    adatas: dict[str, AnnData] | None = None,
    *,
    max_components: int = MAX_COMPONENTS,
    cells_per_component: int = CELLS_PER_COMPONENT,
    seed: int = 0,
) -> LatentPrior:
    """Fit the simulation prior from training cells' joint embeddings (pooled over samples).

    Parameters
    ----------
    model
        The trained model (its samples name the latents and library sizes).
    latents
        Sample id -> AnnData with ``obsm["X_crossomics"]`` and ``obs["cell_type"]`` (``obs["condition"]``
        optional), as in ``DIR/integration/<sample>.latent.h5ad``. Samples without cell types are left out
        when others have them.
    adatas
        Sample id -> the sample's counts (preprocessed AnnData, same cells); gives library sizes per group.
    max_components, cells_per_component
        Mixture size per group: one component per ``cells_per_component`` cells, at most ``max_components``.

    Returns
    -------
    The fitted :class:`LatentPrior`.
    """
    labelled = {k: v for k, v in latents.items() if KEYS.cell_type in v.obs} or dict(latents)
    if not labelled:
        msg = "no latents to fit the simulation prior to; train the model first."
        raise InputError(msg)
    parts = {
        k: (np.asarray(v.obsm[KEYS.latent], dtype=np.float64), *_group_labels(v)) for k, v in labelled.items()
    }
    z = np.vstack([p[0] for p in parts.values()])
    types = np.concatenate([p[1] for p in parts.values()])
    conds = np.concatenate([p[2] for p in parts.values()])
    keys = sorted(set(zip(types, conds, strict=True)))
    centred = np.vstack(
        [z[(types == t) & (conds == c)] - z[(types == t) & (conds == c)].mean(0) for t, c in keys]
    )
    pooled = np.cov(centred, rowvar=False) if len(centred) > 1 else np.eye(z.shape[1])
    prior = LatentPrior([], [], [], [], [], [])
    for i, (t, c) in enumerate(keys):
        zz = z[(types == t) & (conds == c)]
        w, m, ch = _fit_mixture(
            zz, pooled, max_components=max_components, per_component=cells_per_component, seed=seed + i
        )
        prior.cell_types.append(str(t))
        prior.conditions.append(str(c) if c else None)
        prior.n_cells.append(len(zz))
        prior.weights.append(w)
        prior.means.append(m)
        prior.chols.append(ch)
    for sample, adata in (adatas or {}).items():
        if sample in model.domains and sample in parts:
            if not adata.obs_names.equals(labelled[sample].obs_names):
                adata = adata[labelled[sample].obs_names]
            counts, _ = select_counts(adata, model.domains[sample].features, source=f"sample {sample}")
            binary = model.domains[sample].likelihood == "bernoulli"
            prior.library_quantiles[sample] = _library_quantiles(
                row_sums(counts, binary=binary), parts[sample][1:], keys
            )
            if model.domains[sample].likelihood == "nb":
                prior.log_theta[sample] = calibrated_log_theta(model, sample, parts[sample][0], counts)
    return prior


def calibrated_log_theta(
    model: CrossModel, domain: str, z: np.ndarray, counts: Counts, *, chunk: int = 4096
) -> np.ndarray:
    """Per-feature NB log inverse dispersion of ``counts`` around the model's decoded means (moments).

    With ``mu`` the means decoded at each cell's joint point and library, ``1/theta`` solves
    ``sum (x - mu)^2 = sum mu + sum mu^2 / theta`` per feature, clipped to ``[THETA_MIN, THETA_MAX]``. The
    counts' spread that the decoded means do not explain thus goes into the dispersion, so that sampled
    counts vary as much as real ones.
    """
    library = row_sums(counts)
    num = np.zeros(counts.shape[1])
    den = np.zeros(counts.shape[1])
    for s in range(0, counts.shape[0], chunk):
        mu = model.decode(z[s : s + chunk], domain, library=library[s : s + chunk]).astype(np.float64)
        x = counts[s : s + chunk].toarray().astype(np.float64)
        num += ((x - mu) ** 2 - mu).sum(0)
        den += (mu**2).sum(0)
    inverse = np.divide(num, den, out=np.full_like(num, 1 / THETA_MAX), where=den > 0)
    return -np.log(np.clip(inverse, 1 / THETA_MAX, 1 / THETA_MIN))


def _library_quantiles(lib: np.ndarray, labels, keys) -> np.ndarray:
    types, conds = labels
    qs = np.linspace(0, 1, N_QUANTILES)
    overall = np.quantile(lib, qs)
    rows = []
    for t, c in keys:
        mine = lib[(types == t) & (conds == c)]
        rows.append(np.quantile(mine, qs) if len(mine) >= MIN_LIBRARY_CELLS else overall)
    return np.vstack(rows)


def _weights_sha(model_dir: Path) -> str:
    """The SHA-256 of the model weights (from the manifest), to tell a prior of another training apart."""
    from ..model.store import MANIFEST, WEIGHTS

    path = model_dir / MANIFEST
    return json.loads(path.read_text()).get("sha256", {}).get(WEIGHTS, "") if path.is_file() else ""


def save_latent_prior(prior: LatentPrior, model_dir: str | Path) -> Path:
    """Write ``latent_prior.json`` and ``latent_prior.npz`` into the model folder (after ``model.save``)."""
    model_dir = Path(model_dir)
    arrays = {}
    for g in range(len(prior.cell_types)):
        arrays.update(
            {f"weights/{g}": prior.weights[g], f"means/{g}": prior.means[g], f"chols/{g}": prior.chols[g]}
        )
    arrays.update({f"library/{s}": q for s, q in prior.library_quantiles.items()})
    arrays.update({f"log_theta/{s}": t for s, t in prior.log_theta.items()})
    with atomic_path(model_dir / PRIOR_NPZ) as tmp, Path(tmp).open("wb") as fh:
        np.savez(fh, **arrays)
    meta = {
        "cell_types": prior.cell_types,
        "conditions": prior.conditions,
        "n_cells": prior.n_cells,
        "library_samples": sorted(prior.library_quantiles),
        "dispersion_samples": sorted(prior.log_theta),
        "weights_sha256": _weights_sha(model_dir),
        "version": __version__,
    }
    write_json(meta, model_dir / PRIOR_JSON)
    return model_dir / PRIOR_JSON


def read_latent_prior(model_dir: str | Path) -> LatentPrior | None:
    """The prior saved in the model folder, or None when absent or fitted for other weights."""
    model_dir = Path(model_dir)
    if not (model_dir / PRIOR_JSON).is_file() or not (model_dir / PRIOR_NPZ).is_file():
        return None
    meta = json.loads((model_dir / PRIOR_JSON).read_text())
    if meta.get("weights_sha256") != _weights_sha(model_dir):
        log.warning(
            "%s was fitted for other model weights; refitting from the integration latents",
            model_dir / PRIOR_JSON,
        )
        return None
    with np.load(model_dir / PRIOR_NPZ, allow_pickle=False) as npz:
        groups = range(len(meta["cell_types"]))
        return LatentPrior(
            meta["cell_types"],
            meta["conditions"],
            meta["n_cells"],
            [npz[f"weights/{g}"] for g in groups],
            [npz[f"means/{g}"] for g in groups],
            [npz[f"chols/{g}"] for g in groups],
            {s: npz[f"library/{s}"] for s in meta["library_samples"]},
            {s: npz[f"log_theta/{s}"] for s in meta.get("dispersion_samples", [])},
            meta["weights_sha256"],
        )


def load_latent_prior(model: CrossModel, model_dir: str | Path, *, seed: int = 0) -> LatentPrior:
    """The model folder's prior, else one fitted from ``DIR/integration`` (+ ``DIR/preprocess``) beside it."""
    model_dir = Path(model_dir)
    prior = read_latent_prior(model_dir)
    if prior is not None:
        return prior
    outdir = model_dir.resolve().parent
    latents, adatas = {}, {}
    for sample in model.domains:
        lat = outdir / "integration" / f"{sample}.latent.h5ad"
        pre = outdir / "preprocess" / f"{sample}.h5ad"
        if lat.is_file():
            latents[sample] = ad.read_h5ad(lat)
            if pre.is_file():
                adatas[sample] = ad.read_h5ad(pre)
    if not latents:
        msg = (
            f"{model_dir}: has no {PRIOR_JSON}, and no integration latents were found beside it "
            f"({outdir / 'integration'}/<sample>.latent.h5ad for samples {', '.join(model.domains)}). "
            "Simulation samples the joint space of the training cells: keep DIR/integration next to "
            "DIR/model, or retrain."
        )
        raise InputError(msg)
    log.info(
        "simulation prior fitted from %d integration latents in %s", len(latents), outdir / "integration"
    )
    return fit_latent_prior(model, latents, adatas, seed=seed)
