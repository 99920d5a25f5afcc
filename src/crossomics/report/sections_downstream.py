"""The simulation section: simulated cells per type and how closely they match the real cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._keys import KEYS
from ..io.read import read_cell_subset
from . import _inputs as inp
from ._content import Content, bargraph, scatter, table
from .sections import Context
from .sections_results import metrics_table

#: features drawn in the real-vs-simulated scatter, over all simulated files (evenly spread over expression)
MAX_SCATTER_POINTS = 1200
#: real cells (a seeded random subset above this) whose feature statistics the simulated cells are drawn against
REAL_MAX_CELLS = 20_000
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def simulation_section(ctx: Context) -> list[Content]:
    """Simulation: cells per type in each simulated file; real-vs-simulated per-feature mean and variance."""
    import anndata as ad

    sims = {p.stem: ad.read_h5ad(p) for p in inp.files(ctx.layout, "simulation", "*.h5ad")}
    if not sims:
        return []
    counts = {n: _types(a) for n, a in sims.items()}
    cats = sorted({c for v in counts.values() for c in v})
    desc = "Cells of each type in each simulated file (obs `cell_type`)."
    out = [
        bargraph(
            "crossomics_simulation_cells",
            "Simulated cells",
            desc,
            counts,
            categories={c: {"name": c} for c in cats},
            ylab="cells",
        )
    ]
    stats: dict[str, dict[str, Any]] = {}
    means, variances = {}, {}
    per_file = max(MAX_SCATTER_POINTS // len(sims), 50)
    for i, (name, sim) in enumerate(sims.items()):
        ref = _reference(ctx, name, sim)
        stats[name] = {"Cells": sim.n_obs, "Features": sim.n_vars, "Real sample": ref[0] if ref else ""}
        if ref is None:
            continue
        real = read_cell_subset(ref[1], REAL_MAX_CELLS)
        in_real = set(map(str, real.var_names))
        genes = [g for g in map(str, sim.var_names) if g in in_real]
        r_stats, s_stats = _feature_stats(_counts(real, genes)), _feature_stats(_counts(sim, genes))
        ok = (r_stats["mean"] > 0) & (s_stats["mean"] > 0) & (r_stats["var"] > 0) & (s_stats["var"] > 0)
        lr = {k: np.log10(r_stats[k][ok]) for k in ("mean", "var")}
        ls = {k: np.log10(s_stats[k][ok]) for k in ("mean", "var")}
        stats[name] |= {
            "r log mean": _r(lr["mean"], ls["mean"]),
            "r log variance": _r(lr["var"], ls["var"]),
            "r zero fraction": _r(r_stats["zero"], s_stats["zero"]),
        }
        pick = _spread_index(lr["mean"], per_file)
        names, colour = np.asarray(genes)[ok][pick], _COLOURS[i % len(_COLOURS)]
        for target, key in ((means, "mean"), (variances, "var")):
            target[name] = [
                {"x": float(x), "y": float(y), "name": f"{name}: {g}", "color": colour}
                for x, y, g in zip(lr[key][pick], ls[key][pick], names, strict=True)
            ]
    if means:
        labels = [
            {"name": "mean", "xlab": "real log10 mean", "ylab": "simulated log10 mean"},
            {"name": "variance", "xlab": "real log10 variance", "ylab": "simulated log10 variance"},
        ]
        desc = (
            "Per-feature log10 mean and variance of counts in the real sample (x) and in the simulated cells "
            "(y); points on the diagonal are reproduced. The buttons switch between mean and variance."
        )
        out.append(
            scatter(
                "crossomics_simulation_mean_var",
                "Real vs simulated features",
                desc,
                [means, variances],
                labels,
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
    desc = "Pearson r between real and simulated per-feature statistics, over the features both share."
    out.append(
        table(
            "crossomics_simulation_fidelity",
            "Simulation fidelity",
            desc,
            stats,
            headers=heads,
            first_column="File",
        )
    )
    realism = _realism(ctx)
    if realism:
        desc = (
            "Scores of the simulation stage (metrics/generation.json): a classifier telling real from "
            "simulated cells of the same type (AUC 0.5: indistinguishable) and moment correlations."
        )
        out.append(metrics_table("crossomics_simulation_realism", "Simulation realism", desc, realism))
    return out


def _types(adata) -> dict[str, int]:
    if KEYS.cell_type in adata.obs:
        return adata.obs[KEYS.cell_type].astype(str).value_counts().to_dict()
    return {"cells": adata.n_obs}


def _realism(ctx: Context) -> dict[str, Any]:
    metrics = inp.read_json(inp.out_path(ctx.layout, "metrics", "generation.json")) or {}
    prefix = "simulation_"
    return {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix) and isinstance(v, dict)}


def _reference(ctx: Context, name: str, sim) -> tuple[str, Path] | None:
    """Return the real sample a simulated file mirrors: as recorded in its uns, same name, or most shared
    features (at least half)."""
    candidates = {}
    for s in ctx.samples():
        for folder, fn in (("qc", f"{s}.qc.h5ad"), ("preprocess", f"{s}.h5ad")):
            if (p := inp.out_path(ctx.layout, folder, fn)).is_file():
                candidates[s] = p
                break
    recorded = (
        sim.uns.get(KEYS.simulate, {}).get("sample") if isinstance(sim.uns.get(KEYS.simulate), dict) else None
    )
    for s in (recorded, name):
        if s in candidates:
            return s, candidates[s]
    want = set(map(str, sim.var_names))
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
