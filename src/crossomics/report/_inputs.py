"""Readers of stage outputs for the report: only what a section shows, never a whole matrix when avoidable."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._keys import KEYS
from ..io.layout import Layout

log = logging.getLogger(__name__)

#: largest number of per-cell values one box plot keeps per sample (evenly spaced order statistics)
MAX_BOX_POINTS = 2000


def out_path(layout: Layout, folder: str, name: str = "") -> Path:
    """``<outdir>/<folder>/<name>`` without creating anything (the report only reads stage outputs)."""
    p = layout.outdir / folder
    return p / name if name else p


def read_json(path: Path) -> Any | None:
    """Parsed JSON, or None when ``path`` does not exist."""
    return json.loads(path.read_text()) if path.is_file() else None


def read_yaml(path: Path) -> Any | None:
    """Parsed YAML, or None when ``path`` does not exist."""
    import yaml

    return yaml.safe_load(path.read_text()) if path.is_file() else None


def files(layout: Layout, folder: str, pattern: str) -> list[Path]:
    """Sorted files matching ``pattern`` in an output folder (temporary files of killed runs excluded)."""
    from ..io.write import TMP_MARK

    d = out_path(layout, folder)
    return sorted(p for p in d.glob(pattern) if p.is_file() and TMP_MARK not in p.name) if d.is_dir() else []


def stem(path: Path, suffix: str) -> str:
    """``path``'s name without ``suffix`` (e.g. ``rna_a`` from ``rna_a.qc.json``)."""
    return path.name[: -len(suffix)] if path.name.endswith(suffix) else path.stem


def h5ad_uns(path: Path, key: str) -> dict[str, Any]:
    """``uns[key]`` of an ``.h5ad`` file without loading its matrices ({} when absent)."""
    import anndata as ad
    import h5py

    with h5py.File(path, "r") as f:
        if "uns" not in f or key not in f["uns"]:
            return {}
        value = ad.io.read_elem(f["uns"][key])
    return dict(value) if isinstance(value, dict) else {}


def h5ad_obs(path: Path) -> pd.DataFrame:
    """``obs`` of an ``.h5ad`` file without loading its matrices."""
    import anndata as ad
    import h5py

    with h5py.File(path, "r") as f:
        return ad.io.read_elem(f["obs"])


def h5ad_shape(path: Path) -> tuple[int, int]:
    """(cells, features) of an ``.h5ad`` file, read from its obs and var indexes."""
    import h5py

    with h5py.File(path, "r") as f:

        def n(group: str) -> int:
            g = f[group]
            index = g.attrs.get("_index", "_index")
            return int(g[index].shape[0]) if index in g else 0

        return n("obs"), n("var")


def spread(values: np.ndarray, max_points: int = MAX_BOX_POINTS) -> list[float]:
    """``values`` as a list, or ``max_points`` evenly spaced quantiles of them (same box, bounded size)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size <= max_points:
        return v.tolist()
    return np.quantile(v, np.linspace(0.0, 1.0, max_points)).tolist()


def latents(layout: Layout) -> dict[str, pd.DataFrame]:
    """Per sample: obs with the 2-D coordinates (``x``, ``y``) of the joint space and the basis used.

    Reads ``integration/<sample>.latent.h5ad`` when present, else the modalities of
    ``integration/crossomics.h5mu``. UMAP from ``obsm["X_umap"]``; without it, the first two
    principal components of ``obsm["X_crossomics"]``.
    """
    import anndata as ad

    paths = files(layout, "integration", "*.latent.h5ad")
    adatas: dict[str, ad.AnnData] = {stem(p, ".latent.h5ad"): ad.read_h5ad(p) for p in paths}
    h5mu = out_path(layout, "integration", "crossomics.h5mu")
    if not adatas and h5mu.is_file():
        import mudata

        with mudata.set_options(pull_on_update=False):
            adatas = dict(mudata.read_h5mu(h5mu).mod)
    out = {}
    for sample, a in adatas.items():
        if KEYS.umap in a.obsm:
            xy, basis = np.asarray(a.obsm[KEYS.umap])[:, :2], "UMAP"
        elif KEYS.latent in a.obsm:
            xy, basis = _pca2(np.asarray(a.obsm[KEYS.latent])), "PCA"
        else:
            continue
        obs = a.obs.copy()
        obs["x"], obs["y"], obs["basis"] = xy[:, 0], xy[:, 1], basis
        obs[KEYS.sample] = sample
        out[sample] = obs
    return out


def _pca2(z: np.ndarray) -> np.ndarray:
    z = z - z.mean(0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return z @ vt[:2].T


def history(layout: Layout) -> pd.DataFrame | None:
    """``model/history.csv`` (one row per epoch and stage), or None."""
    p = out_path(layout, "model", "history.csv")
    return pd.read_csv(p) if p.is_file() else None


def read_table(path: Path) -> pd.DataFrame | None:
    """A TSV (or Parquet) table, or None when missing."""
    if not path.is_file():
        return None
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t")


def h5ad_var_names(path: Path) -> list[str]:
    """Feature names of an ``.h5ad`` file, read from its var index only."""
    import h5py

    with h5py.File(path, "r") as f:
        g = f["var"]
        index = g.attrs.get("_index", "_index")
        return [v.decode() if isinstance(v, bytes) else str(v) for v in g[index][()]] if index in g else []
