"""Report sections over downstream uses of the model: simulation and perturbation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._keys import KEYS
from . import _inputs as inp
from ._content import Content, bargraph, scatter, table
from .sections import Context
from .sections_results import metrics_table

#: features drawn in the real-vs-simulated scatter, over all simulated files (evenly spread over expression)
MAX_SCATTER_POINTS = 1200
#: rows of the perturbation rankings shown
TOP_GENES = 25
TOP_FEATURES = 10
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_GENE_COLUMNS = ("gene", "perturbed_gene", "perturbation", "genes")
_SCORE_COLUMNS = ("score", "effect", "overall_effect", "effect_size", "latent_shift", "delta")


def simulation_section(ctx: Context) -> list[Content]:
    """Simulation: cells per type in each simulated file; real-vs-simulated per-feature mean and variance."""
    import anndata as ad

    sims = {p.stem: ad.read_h5ad(p) for p in inp.files(ctx.layout, "simulation", "*.h5ad")}
    if not sims:
        return []
    counts = {
        n: (
            a.obs[KEYS.cell_type].astype(str).value_counts().to_dict()
            if KEYS.cell_type in a.obs
            else {"cells": a.n_obs}
        )
        for n, a in sims.items()
    }
    cats = sorted({c for v in counts.values() for c in v})
    out = [
        bargraph(
            "crossomics_simulation_cells",
            "Simulated cells",
            "Cells of each type in each simulated file (obs `cell_type`).",
            counts,
            categories={c: {"name": c} for c in cats},
            ylab="cells",
        )
    ]
    stats: dict[str, dict[str, Any]] = {}
    means, variances = {}, {}
    per_file = max(MAX_SCATTER_POINTS // len(sims), 50)
    for i, (name, sim) in enumerate(sims.items()):
        ref = _reference(ctx, name, list(map(str, sim.var_names)))
        row: dict[str, Any] = {
            "Cells": sim.n_obs,
            "Features": sim.n_vars,
            "Real sample": ref[0] if ref else "",
        }
        if ref:
            real = ad.read_h5ad(ref[1])
            genes = [g for g in map(str, sim.var_names) if g in set(real.var_names)]
            r_stats, s_stats = _feature_stats(_counts(real, genes)), _feature_stats(_counts(sim, genes))
            ok = (r_stats["mean"] > 0) & (s_stats["mean"] > 0) & (r_stats["var"] > 0) & (s_stats["var"] > 0)
            lr = {k: np.log10(r_stats[k][ok]) for k in ("mean", "var")}
            ls = {k: np.log10(s_stats[k][ok]) for k in ("mean", "var")}
            row |= {
                "r log mean": _r(lr["mean"], ls["mean"]),
                "r log variance": _r(lr["var"], ls["var"]),
                "r zero fraction": _r(r_stats["zero"], s_stats["zero"]),
            }
            pick = _spread_index(lr["mean"], per_file)
            names = np.asarray(genes)[ok][pick]
            colour = _COLOURS[i % len(_COLOURS)]
            for target, key in ((means, "mean"), (variances, "var")):
                target[name] = [
                    {"x": float(x), "y": float(y), "name": f"{name}: {g}", "color": colour}
                    for x, y, g in zip(lr[key][pick], ls[key][pick], names, strict=True)
                ]
        stats[name] = row
    if means:
        out.append(
            scatter(
                "crossomics_simulation_mean_var",
                "Real vs simulated features",
                "Per-feature log10 mean and variance of counts in the real sample (x) and in the simulated "
                "cells (y); points on the diagonal are reproduced. Switch between mean and variance above.",
                [means, variances],
                [
                    {"name": "mean", "xlab": "real log10 mean", "ylab": "simulated log10 mean"},
                    {"name": "variance", "xlab": "real log10 variance", "ylab": "simulated log10 variance"},
                ],
                xlab="real (log10)",
                ylab="simulated (log10)",
                flat_if_very_large=False,
                marker_size=5,
            )
        )
    heads = {
        k: {"min": 0, "max": 1, "format": "{:.3f}", "scale": "RdYlGn"}
        for k in ("r log mean", "r log variance", "r zero fraction")
    }
    out.append(
        table(
            "crossomics_simulation_fidelity",
            "Simulation fidelity",
            "Pearson r between real and simulated per-feature statistics, over the features both share.",
            stats,
            headers=heads,
            first_column="File",
        )
    )
    return out


def _reference(ctx: Context, name: str, features: list[str]) -> tuple[str, Path] | None:
    """Return the real sample a simulated file mirrors: same name, else most shared features (>= half)."""
    candidates = {}
    for s in ctx.samples():
        for folder, fn in (("qc", f"{s}.qc.h5ad"), ("preprocess", f"{s}.h5ad")):
            if (p := inp.out_path(ctx.layout, folder, fn)).is_file():
                candidates[s] = p
                break
    if name in candidates:
        return name, candidates[name]
    want = set(features)
    best = max(((len(want & set(inp.h5ad_var_names(p))), s) for s, p in candidates.items()), default=(0, ""))
    return (best[1], candidates[best[1]]) if want and best[0] >= len(want) / 2 else None


def _counts(adata, genes: list[str]) -> sp.csr_matrix:
    sub = adata[:, genes]
    x = sub.layers[KEYS.counts] if KEYS.counts in sub.layers else sub.X
    return sp.csr_matrix(x, dtype=np.float64)


def _feature_stats(x: sp.csr_matrix) -> dict[str, np.ndarray]:
    mean = np.asarray(x.mean(0)).ravel()
    var = np.asarray(x.multiply(x).mean(0)).ravel() - mean**2
    zero = 1.0 - np.asarray((x != 0).sum(0)).ravel() / max(x.shape[0], 1)
    return {"mean": mean, "var": np.maximum(var, 0.0), "zero": zero}


def _r(a: np.ndarray, b: np.ndarray) -> float | None:
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 and np.std(a) > 0 and np.std(b) > 0 else None


def _spread_index(values: np.ndarray, n: int) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    return (
        order if len(order) <= n else order[np.unique(np.linspace(0, len(order) - 1, n).round().astype(int))]
    )


def perturbation_section(ctx: Context) -> list[Content]:
    """Perturbation: genes ranked by overall effect, top shifted features per target modality, metrics."""
    out = []
    folder = inp.out_path(ctx.layout, "perturbation")
    summary = _first_table(folder, "summary")
    if summary is not None and len(summary):
        gene, score = _column(summary, _GENE_COLUMNS, str), _column(summary, _SCORE_COLUMNS, float)
        top = summary.iloc[np.argsort(-np.abs(summary[score].to_numpy(float)), kind="stable")[:TOP_GENES]]
        out.append(
            bargraph(
                "crossomics_perturbation_ranking",
                "Perturbed genes ranked by effect",
                f"The {len(top)} perturbed genes (of {len(summary):,}) with the largest `{score}` in "
                "perturbation/summary.",
                {str(g): {score: float(v)} for g, v in zip(top[gene], top[score], strict=True)},
                ylab=score,
                sort_samples=False,
            )
        )
        rows = {str(r[gene]): {c: r[c] for c in top.columns if c != gene} for _, r in top.iterrows()}
        out.append(
            table(
                "crossomics_perturbation_summary",
                "Top perturbed genes",
                "The same genes with every column of perturbation/summary.",
                rows,
                first_column="Gene",
            )
        )
    effects = _top_effects(folder)
    if effects is not None and len(effects):
        rows = {
            f"{r['_gene']} → {r['_feature']} ({r['_target']})": {
                "Perturbed gene": r["_gene"],
                "Target modality": r["_target"],
                "Feature": r["_feature"],
                **{c: r[c] for c in effects.columns if not c.startswith("_")},
            }
            for _, r in effects.iterrows()
        }
        out.append(
            table(
                "crossomics_perturbation_features",
                "Top shifted features per modality",
                f"The {TOP_FEATURES} features of each target modality that moved most (by |score|) under "
                "any perturbation, from perturbation/effects.",
                rows,
                first_column="Effect",
            )
        )
    metrics = inp.read_json(inp.out_path(ctx.layout, "metrics", "perturbation.json"))
    if metrics:
        out.append(
            metrics_table(
                "crossomics_perturbation_metrics",
                "Perturbation checks",
                "Validation figures written by the perturbation stage.",
                metrics,
            )
        )
    return out


def _first_table(folder: Path, name: str) -> pd.DataFrame | None:
    for ext in (".tsv", ".parquet"):
        if (df := inp.read_table(folder / f"{name}{ext}")) is not None:
            return df
    return None


def _column(df: pd.DataFrame, names: tuple[str, ...], kind: type) -> str:
    """The first of ``names`` in ``df``, else its first column of ``kind`` (numeric for float)."""
    lower = {c.lower(): c for c in df.columns}
    for n in names:
        if n in lower:
            return lower[n]
    for c in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[c])
        if (kind is float) == numeric and "rank" not in c.lower():
            return c
    msg = f"no {'numeric' if kind is float else 'text'} column among {list(df.columns)}"
    raise ValueError(msg)


def _top_effects(folder: Path) -> pd.DataFrame | None:
    """Top features per target modality of the long effects table, read in chunks (screens are large)."""
    path = next((p for p in (folder / "effects.tsv", folder / "effects.parquet") if p.is_file()), None)
    if path is None:
        return None
    chunks = (
        [pd.read_parquet(path)]
        if path.suffix == ".parquet"
        else pd.read_csv(path, sep="\t", chunksize=500_000)
    )
    best: pd.DataFrame | None = None
    for chunk in chunks:
        gene = _column(chunk, _GENE_COLUMNS, str)
        target = _column(chunk, ("target_modality", "modality", "target"), str)
        feature = _column(chunk, ("feature", "target_feature"), str)
        score = _column(chunk, ("score", "lfc", "delta"), float)
        chunk = chunk.assign(
            _gene=chunk[gene].astype(str),
            _target=chunk[target].astype(str),
            _feature=chunk[feature].astype(str),
            _abs=chunk[score].abs(),
        )
        chunk = chunk.drop(columns=[gene, target, feature])
        best = chunk if best is None else pd.concat([best, chunk], ignore_index=True)
        best = (
            best.sort_values("_abs", ascending=False, kind="stable")
            .groupby("_target", sort=True)
            .head(TOP_FEATURES)
        )
    return (
        None
        if best is None
        else best.sort_values(["_target", "_abs"], ascending=[True, False]).drop(columns="_abs")
    )
