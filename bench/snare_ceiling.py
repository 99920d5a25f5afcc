#!/usr/bin/env python3
"""Benchmark: what SNARE-seq allows an unpaired integration to reach, next to what the model reaches.

Reads a finished run on the full SNARE-seq pair (``bench/snare_integration.py --outdir DIR`` or ``crossomics
run``; unpaired) and scores three references with the same metrics as issue 5:

1. How much cell-type information an ATAC cell carries on its own: 5-fold cross-validated accuracy of a
   logistic regression trained *with the true labels* on the ATAC encoder input (the reduced
   representation), against the model's unsupervised kNN label transfer from RNA to ATAC cells.
2. Perfect alignment: every ATAC cell placed exactly on its own RNA cell (FOSCTTM 0), in the model's RNA
   geometry and in the RNA principal components (16, as many as the joint space).
3. A supervised ATAC oracle: ATAC cells the classifier of 1 gets right sit on their own RNA cell, the others
   on a random RNA cell of the predicted type; the best any unpaired method limited to the cell-type
   information of the ATAC profile could do at type level.

    .venv/bin/python bench/snare_ceiling.py --results DIR/results [--seed 0]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import anndata as ad
import numpy as np

BARS = {"ari_leiden": (">=", 0.40), "asw_celltype": (">=", 0.53), "foscttm": ("<=", 0.10)}
N_JOINT = 16


def supervised_predictions(x: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Cross-validated (5-fold) cell-type predictions of a logistic regression on standardised ``x``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    xs = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return cross_val_predict(LogisticRegression(max_iter=2000), xs, labels, cv=folds)


def place_by_prediction(z_rna: np.ndarray, labels: np.ndarray, predicted: np.ndarray, seed: int) -> np.ndarray:
    """ATAC positions: a cell's own RNA position when its type is predicted right, else a random RNA cell's
    position among the cells of the predicted type (row ``i`` of ``z_rna`` is cell ``i``'s RNA)."""
    rng = np.random.default_rng(seed)
    out = z_rna.copy()
    for i in np.flatnonzero(predicted != labels):
        out[i] = z_rna[rng.choice(np.flatnonzero(labels == predicted[i]))]
    return out


def score(z_rna: np.ndarray, z_atac: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, float]:
    """FOSCTTM, Leiden ARI (best-NMI resolution) and cell-type ASW of both modalities' cells together."""
    from crossomics.metrics.integration import foscttm, leiden_ari_nmi, silhouette_celltype

    emb = np.vstack([z_rna, z_atac])
    both = np.concatenate([labels, labels])
    return {
        "foscttm": foscttm(z_rna, z_atac),
        "ari_leiden": leiden_ari_nmi(emb, both, seed=seed)["ari_leiden"],
        "asw_celltype": silhouette_celltype(emb, both, seed=seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="results folder of an unpaired SNARE run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sklearn.decomposition import PCA

    res = args.results
    rna = ad.read_h5ad(res / "preprocess" / "rna.h5ad", backed="r")
    atac = ad.read_h5ad(res / "preprocess" / "atac.h5ad", backed="r")
    lat = {k: ad.read_h5ad(res / "integration" / f"{k}.latent.h5ad") for k in ("rna", "atac")}
    shared = rna.obs_names.intersection(atac.obs_names).intersection(lat["rna"].obs_names).intersection(lat["atac"].obs_names)
    labels = rna.obs.loc[shared, "cell_type"].astype(str).to_numpy()
    atac_input = np.asarray(atac.obsm["X_reduced"])[atac.obs_names.get_indexer(shared)]
    rna_input = np.asarray(rna.obsm["X_reduced"])[rna.obs_names.get_indexer(shared)]
    model_rna = lat["rna"].obsm["X_crossomics"][lat["rna"].obs_names.get_indexer(shared)]
    model_atac = lat["atac"].obsm["X_crossomics"][lat["atac"].obs_names.get_indexer(shared)]
    metrics = json.loads((res / "metrics" / "integration.json").read_text())

    predicted = supervised_predictions(atac_input, labels, args.seed)
    rna_pcs = PCA(N_JOINT, random_state=args.seed).fit_transform(rna_input)
    rows = {
        "model (as trained)": score(model_rna, model_atac, labels, args.seed),
        "perfect alignment, model RNA geometry": score(model_rna, model_rna, labels, args.seed),
        "perfect alignment, RNA PCA geometry": score(rna_pcs, rna_pcs, labels, args.seed),
        "supervised ATAC oracle, model RNA geometry": score(
            model_rna, place_by_prediction(model_rna, labels, predicted, args.seed), labels, args.seed
        ),
        "supervised ATAC oracle, RNA PCA geometry": score(
            rna_pcs, place_by_prediction(rna_pcs, labels, predicted, args.seed), labels, args.seed
        ),
    }
    accuracy = float((predicted == labels).mean())
    print(f"{len(shared):,} paired cells; cell types: {len(np.unique(labels))}")
    print(f"ATAC-only cell-type accuracy, supervised logistic regression (5-fold): {accuracy:.3f}")
    print(f"model's unsupervised RNA->ATAC kNN label transfer:                    {metrics['label_transfer__rna__atac']:.3f}")
    print(f"\n{'joint embedding of RNA + ATAC cells':<46}{'FOSCTTM':>9}{'ARI':>8}{'ASW':>8}")
    for name, s in rows.items():
        print(f"{name:<46}{s['foscttm']:>9.3f}{s['ari_leiden']:>8.3f}{s['asw_celltype']:>8.3f}")
    print("bars: " + ", ".join(f"{k} {op} {v}" for k, (op, v) in BARS.items()))
    print(json.dumps({"atac_supervised_accuracy": accuracy, "label_transfer": metrics["label_transfer__rna__atac"], "rows": rows}))


if __name__ == "__main__":
    main()
