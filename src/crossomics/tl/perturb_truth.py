"""Ranking quality of a perturbation against known answers (the demo's driver program, a gene's own peaks)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

TRUTH_SETS = {"rna": "targets", "atac": "linked_peaks", "adt": "linked_proteins"}


def auroc(values: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``values`` for the ``positive`` mask (NaN when one class is empty)."""
    values, positive = np.asarray(values, dtype=np.float64), np.asarray(positive, dtype=bool)
    ok = np.isfinite(values)
    if positive[ok].all() or not positive[ok].any():
        return float("nan")
    return float(roc_auc_score(positive[ok], values[ok]))


def ranking_auroc(
    effects: pd.DataFrame,
    gene: str,
    modality: str,
    positives: Iterable[str],
    *,
    column: str = "score",
    direction: float = 1.0,
) -> float:
    """AUROC of the positives among all features of one perturbed gene and target modality (gene excluded).

    ``direction`` -1 ranks decreases first (a knock-down should lower the targets).
    """
    rows = effects[
        (effects["gene"] == gene) & (effects["target_modality"] == modality) & (effects["feature"] != gene)
    ]
    return auroc(direction * rows[column].to_numpy(), rows["feature"].isin(set(positives)).to_numpy())


def demo_truth_metrics(
    effects: pd.DataFrame | str | Path, truth: dict[str, Any], *, mode: str = "oe"
) -> dict[str, float]:
    """Perturbation of the demo driver: AUROC of its targets, linked peaks and proteins among all features.

    Features are ranked by score, increases first for ``oe`` and decreases first for ``ko``/``kd``.

    Returns ``<modality>_auroc`` (model score) and ``<modality>_naive_auroc`` (co-expression with the
    driver, where measured data of that modality was available) for each modality present.
    """
    direction = 1.0 if mode == "oe" else -1.0
    if not isinstance(effects, pd.DataFrame):
        effects = pd.read_csv(effects, sep="\t", dtype={"gene": str, "feature": str, "target_modality": str})
    out: dict[str, float] = {}
    driver = truth["driver"]
    for modality, key in TRUTH_SETS.items():
        if key not in truth or not (effects["target_modality"] == modality).any():
            continue
        out[f"{modality}_auroc"] = ranking_auroc(effects, driver, modality, truth[key], direction=direction)
        naive = ranking_auroc(effects, driver, modality, truth[key], column="naive")
        if np.isfinite(naive):
            out[f"{modality}_naive_auroc"] = naive
    return out
