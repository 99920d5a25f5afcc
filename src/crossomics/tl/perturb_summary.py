"""Per-gene summary of a perturbation: latent shift, affected cell types, marker-type test, top features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import spearmanr

from .perturb import GeneResult, PerturbationEngine, feature_effects

N_TOP_TYPES = 3
N_TOP_FEATURES = 5


@dataclass
class CellTypeContext:
    """Cell types of the focus cells, type centroids in the joint space, each gene's mean share per type."""

    names: list[str]
    focus_codes: np.ndarray
    centroids: np.ndarray
    nearest: np.ndarray
    share: np.ndarray

    @classmethod
    def build(cls, engine: PerturbationEngine, types: np.ndarray | None) -> CellTypeContext | None:
        if types is None:
            return None
        names, codes = np.unique(types, return_inverse=True)
        onehot = sp.csr_matrix(
            (np.ones(codes.size), (codes, np.arange(codes.size))), shape=(names.size, codes.size)
        )
        sizes = np.asarray(onehot.sum(axis=1)).ravel()
        centroids = np.asarray(onehot @ engine.z0.astype(np.float64)) / sizes[:, None]
        inv = np.divide(1.0, engine.totals, out=np.zeros_like(engine.totals), where=engine.totals > 0)
        share = np.asarray((onehot @ sp.diags(inv) @ engine.counts).todense()) / sizes[:, None]
        z_focus = engine.z0[engine.focus_cells].astype(np.float64)
        return cls(
            list(map(str, names)), codes[engine.focus_cells], centroids, _nearest(z_focus, centroids), share
        )


def _nearest(z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    d = (z * z).sum(1)[:, None] - 2 * z @ centroids.T + (centroids * centroids).sum(1)[None, :]
    return d.argmin(axis=1)


def _marker_test(engine: PerturbationEngine, ctx: CellTypeContext, result: GeneResult, column: int) -> dict:
    """Among moved cells of other types: share that got closer to (or switched to) the gene's top type."""
    marker = int(ctx.share[:, column].argmax())
    out = {"marker_type": ctx.names[marker], "toward_marker_type": np.nan, "switched_to_marker_type": np.nan}
    other = ctx.focus_codes[result.moved] != marker
    if not other.any():
        return out
    moved = result.moved[other]
    z0 = engine.z0[engine.focus_cells[moved]].astype(np.float64)
    z1 = result.z_moved[other].astype(np.float64)
    c = ctx.centroids[marker]
    closer = np.linalg.norm(z1 - c, axis=1) < np.linalg.norm(z0 - c, axis=1)
    before = ctx.nearest[moved] == marker
    after = _nearest(z1, ctx.centroids) == marker
    out["toward_marker_type"] = float(closer.mean())
    out["switched_to_marker_type"] = float((after & ~before).sum() / max(1, (~before).sum()))
    return out


def gene_summary(
    engine: PerturbationEngine,
    ctx: CellTypeContext | None,
    result: GeneResult,
    column: int,
    naive: dict[str, np.ndarray],
) -> tuple[dict, list[dict]]:
    """The summary row of one perturbed gene, and its rows of the per-cell-type table."""
    n = engine.focus_cells.size
    dz = result.z_moved.astype(np.float64) - engine.z0[engine.focus_cells[result.moved]]
    shift = np.zeros(n)
    shift[result.moved] = np.linalg.norm(dz, axis=1)
    row: dict = {
        "gene": result.gene,
        "mode": engine.perturbation.mode,
        "n_cells": n,
        "n_perturbed": result.n_perturbed,
        "frac_expressing": engine.expressing_fraction(column),
        "n_moved": int((shift > 0).sum()),
        "latent_shift": float(shift.mean()) if n else 0.0,
        "latent_shift_coherent": float(np.linalg.norm(dz.sum(axis=0) / max(n, 1))),
    }
    type_rows = []
    if ctx is not None:
        expressing = engine.columns[:, column][engine.focus_cells].toarray().ravel() > 0
        for code in np.unique(ctx.focus_codes):
            mask = ctx.focus_codes == code
            type_rows.append(
                {
                    "gene": result.gene,
                    "cell_type": ctx.names[code],
                    "n_cells": int(mask.sum()),
                    "latent_shift": float(shift[mask].mean()),
                    "frac_expressing": float(expressing[mask].mean()),
                }
            )
        ranked = sorted(type_rows, key=lambda r: -r["latent_shift"])[:N_TOP_TYPES]
        row["top_cell_types"] = ",".join(f"{r['cell_type']}:{r['latent_shift']:.4g}" for r in ranked)
        row.update(_marker_test(engine, ctx, result, column))
    for modality, target in engine.targets.items():
        eff = feature_effects(engine, result, modality)
        names = np.asarray(engine.model.domains[target].features, dtype=object)
        score = eff["score"]
        order = np.argsort(-score, kind="stable")
        row[f"{modality}_max_abs_score"] = float(np.abs(score).max()) if score.size else 0.0
        row[f"{modality}_top_up"] = ",".join(names[order[:N_TOP_FEATURES]][score[order[:N_TOP_FEATURES]] > 0])
        low = order[::-1][:N_TOP_FEATURES]
        row[f"{modality}_top_down"] = ",".join(names[low][score[low] < 0])
        if modality in naive:
            keep = names != result.gene
            rho = spearmanr(score[keep], naive[modality][keep]).statistic if keep.sum() > 2 else np.nan
            row[f"{modality}_naive_spearman"] = float(rho) if np.isfinite(rho) else np.nan
    return row, type_rows
