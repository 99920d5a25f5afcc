"""Condition shift: how far perturbing a gene moves source-condition cells toward the reference condition.

For each gene, the source cells are perturbed and re-embedded; two measures are reported:

- ``shift_toward_reference``: the decrease of the mean distance from the source cells to the centroid of
  the reference cells in the joint space (``relative_shift``: as a fraction of the original distance);
- ``prob_shift``: the change of the mean probability of the reference condition given by a logistic
  regression trained on the original joint embeddings of source and reference cells.

Pathways (GMT) over-represented among the genes that move the cells most are found with a one-sided
hypergeometric test against all screened genes (Benjamini-Hochberg adjusted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import hypergeom
from sklearn.linear_model import LogisticRegression

from .perturb import GeneResult, PerturbationEngine

MIN_SET_SIZE = 3  # gene sets with fewer screened genes are not tested
DEFAULT_TOP_FRACTION = 0.1  # top genes for the enrichment: this fraction of the screen ...
MIN_TOP_GENES = 5  # ... but at least this many
CLASSIFIER_MAX_ITER = 1000


@dataclass
class ConditionContext:
    """Reference centroid and condition classifier fitted on the original embeddings."""

    centroid: np.ndarray
    distance: np.ndarray
    classifier: LogisticRegression
    probability: np.ndarray
    z_focus: np.ndarray

    @classmethod
    def fit(cls, z_source: np.ndarray, z_reference: np.ndarray, *, seed: int) -> ConditionContext:
        centroid = z_reference.mean(axis=0)
        x = np.vstack([z_source, z_reference])
        y = np.r_[np.zeros(len(z_source)), np.ones(len(z_reference))]
        clf = LogisticRegression(max_iter=CLASSIFIER_MAX_ITER, random_state=seed).fit(x, y)
        return cls(
            centroid,
            np.linalg.norm(z_source - centroid, axis=1),
            clf,
            clf.predict_proba(z_source)[:, 1],
            z_source,
        )

    def gene_row(self, result: GeneResult) -> dict[str, float]:
        d1 = self.distance.copy()
        p1 = self.probability.copy()
        if result.moved.size:
            d1[result.moved] = np.linalg.norm(result.z_moved - self.centroid, axis=1)
            p1[result.moved] = self.classifier.predict_proba(result.z_moved)[:, 1]
        before, after = float(self.distance.mean()), float(d1.mean())
        return {
            "gene": result.gene,
            "distance_before": before,
            "distance_after": after,
            "shift_toward_reference": before - after,
            "relative_shift": (before - after) / before if before > 0 else 0.0,
            "prob_reference_before": float(self.probability.mean()),
            "prob_reference_after": float(p1.mean()),
            "prob_shift": float(p1.mean() - self.probability.mean()),
        }


def condition_features(engine: PerturbationEngine, z_reference: np.ndarray) -> pd.DataFrame:
    """Decoded source cells against decoded reference cells, per target feature (cross-modal view).

    Columns: target_modality, feature, mean_source, mean_reference, delta (source - reference), lfc
    (log2), score (delta over the pooled spread of the values the model predicts would be measured, as in
    :func:`crossomics.tl.perturb.feature_effects`).
    """
    from .perturb import LFC_PSEUDO_FRACTION, predicted_variance, standardised_shift

    frames = []
    for modality, target in engine.targets.items():
        x0, _, s0, q0 = engine.base[modality]  # the source cells' decoded values and their moments
        n = max(1, x0.shape[0])
        xr = np.asarray(engine._decode(z_reference, target), dtype=np.float64)
        ms, mr = s0 / n, xr.mean(axis=0)
        var_s = predicted_variance(engine.model, target, ms, q0 / n)
        var_r = predicted_variance(engine.model, target, mr, (xr * xr).mean(axis=0))
        pseudo = LFC_PSEUDO_FRACTION * max(float(np.median(mr)), 1e-12)
        frames.append(
            pd.DataFrame(
                {
                    "target_modality": modality,
                    "feature": engine.model.domains[target].features,
                    "mean_source": ms,
                    "mean_reference": mr,
                    "delta": ms - mr,
                    "lfc": np.log2((ms + pseudo) / (mr + pseudo)),
                    "score": standardised_shift(ms - mr, var_r, var_s),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values."""
    p = np.asarray(p, dtype=np.float64)
    if p.size == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def top_gene_count(n_screened: int, top_genes: int | None) -> int:
    if top_genes is not None:
        return min(top_genes, n_screened)
    return min(n_screened, max(MIN_TOP_GENES, int(round(DEFAULT_TOP_FRACTION * n_screened))))


def pathway_enrichment(
    ranked_genes: Sequence[str], gene_sets: Mapping[str, Sequence[str]], *, top_genes: int | None = None
) -> pd.DataFrame:
    """Gene sets over-represented among the first genes of ``ranked_genes`` (the rest are the background).

    Genes match case-insensitively (mouse symbols against upper-case GMTs).

    Returns
    -------
    One row per tested set, most significant first: gene_set, n_in_screen, n_in_top, expected, pvalue,
    fdr, genes (the set's genes among the top genes).
    """
    universe = [g.upper() for g in ranked_genes]
    n_top = top_gene_count(len(universe), top_genes)
    top = set(universe[:n_top])
    known = set(universe)
    rows = []
    for name, genes in gene_sets.items():
        members = {g.upper() for g in genes} & known
        if len(members) < MIN_SET_SIZE:
            continue
        hits = sorted(members & top)
        p = float(hypergeom.sf(len(hits) - 1, len(universe), len(members), n_top)) if hits else 1.0
        rows.append(
            {
                "gene_set": name,
                "n_in_screen": len(members),
                "n_in_top": len(hits),
                "expected": len(members) * n_top / len(universe),
                "pvalue": p,
                "genes": ",".join(g for g in ranked_genes[:n_top] if g.upper() in members),
            }
        )
    columns = ["gene_set", "n_in_screen", "n_in_top", "expected", "pvalue", "fdr", "genes"]
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows)
    table["fdr"] = benjamini_hochberg(table["pvalue"].to_numpy())
    return table.sort_values(["pvalue", "gene_set"], kind="stable")[columns].reset_index(drop=True)
