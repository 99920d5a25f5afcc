"""A small but complete crossomics run layout, in the formats the stages write (for the report tests)."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml

from crossomics.io.layout import Layout
from crossomics.io.write import write_h5ad, write_json, write_text, write_tsv

SAMPLES = {"rna_a": "rna", "atac_a": "atac", "adt_b": "adt"}
CELL_TYPES = np.array(["B", "T", "NK"])
N_CELLS = 90
N_GENES = 150  # enough features for MultiQC to treat the real-vs-simulated scatter as large (> 100 points)


def _counts(rng: np.random.Generator, n_features: int, types: np.ndarray) -> sp.csr_matrix:
    base = rng.gamma(1.0, 2.0, size=(len(CELL_TYPES), n_features))
    return sp.csr_matrix(rng.poisson(base[types]).astype(np.float32))


def _features(modality: str) -> list[str]:
    if modality == "atac":
        return [f"chr1:{1000 * i}-{1000 * i + 500}" for i in range(40)]
    return [f"P{i}" for i in range(8)] if modality == "adt" else [f"G{i}" for i in range(N_GENES)]


def write_run(outdir: Path, *, downstream: bool = True, seed: int = 0) -> tuple[Layout, Path]:
    """A small but complete run layout in the formats the stages write; returns it and its samplesheet."""
    rng = np.random.default_rng(seed)
    layout = Layout(outdir)
    sheet = ["sample,modality,file,batch,condition"]
    for s, mod in SAMPLES.items():
        types = rng.integers(0, len(CELL_TYPES), N_CELLS)
        x = _counts(rng, len(_features(mod)), types)
        obs = pd.DataFrame(
            {
                "cell_type": CELL_TYPES[types],
                "n_counts": np.asarray(x.sum(1)).ravel(),
                "n_features": np.asarray((x > 0).sum(1)).ravel(),
            },
            index=[f"{s}-c{i}" for i in range(N_CELLS)],
        )
        if mod == "rna":
            obs["pct_mito"] = rng.uniform(0, 10, N_CELLS)
        a = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=_features(mod)))
        write_h5ad(a, outdir / "data" / f"{s}.h5ad")
        write_h5ad(a, layout.qc_h5ad(s))
        sheet.append(f"{s},{mod},{s}.h5ad,b1,ctrl")
        write_json(
            {
                "sample": s,
                "modality": mod,
                "cells_in": N_CELLS + 10,
                "cells_out": N_CELLS,
                "features_in": a.n_vars,
                "features_out": a.n_vars,
                "threshold_min_counts": 5,
                "threshold_min_features": 3,
                "threshold_max_pct_mito": 20.0 if mod == "rna" else None,
                "removed_min_counts": 7,
                "removed_min_features": 3,
                "removed_max_pct_mito": 0,
                "median_n_counts_before": 40.0,
                "median_n_counts_after": 42.0,
            },
            layout.qc_json(s),
        )
        lat = ad.AnnData(obs=obs.assign(modality=mod, sample=s))
        lat.obsm["X_crossomics"] = rng.normal(size=(N_CELLS, 8)).astype(np.float32)
        lat.obsm["X_umap"] = rng.normal(size=(N_CELLS, 2)).astype(np.float32) + types[:, None] * 4
        write_h5ad(lat, layout.latent(s))
    write_text("\n".join(sheet) + "\n", outdir / "data" / "samplesheet.csv")
    _write_priors(layout, rng)
    _write_model(layout)
    if downstream:
        _write_downstream(layout, rng)
    return layout, outdir / "data" / "samplesheet.csv"


def _write_priors(layout: Layout, rng: np.random.Generator) -> None:
    ga = ad.AnnData(sp.csr_matrix((N_CELLS, 30), dtype=np.float32))
    ga.uns["crossomics_gene_activity"] = {
        "n_genes": 30,
        "n_genes_requested": 30,
        "n_genes_with_peak": 27,
        "n_peaks": 40,
        "n_peaks_matched": 33,
        "weighting": "uniform",
    }
    write_h5ad(ga, layout.gene_activity("atac_a"))
    gs = ad.AnnData(np.zeros((N_CELLS, 4), np.float32))
    gs.uns["crossomics_gene_sets"] = {
        "n_sets_read": 6,
        "n_sets_used": 4,
        "n_sets_skipped_too_few_genes": 2,
        "n_sets_skipped_too_many_genes": 0,
    }
    write_h5ad(gs, layout.gene_sets("rna_a"))
    cells = [f"rna_a-c{i}" for i in range(50)]
    write_tsv(
        pd.DataFrame(
            {
                "cell_a": cells,
                "cell_b": [c.replace("rna_a", "atac_a") for c in cells],
                "score": rng.uniform(0.1, 1, 50),
            }
        ),
        layout.anchors("rna_a", "atac_a"),
    )
    write_json(
        {
            "rna_a__atac_a": {
                "n_anchors": 50,
                "n_cells_a": 50,
                "n_cells_b": 50,
                "precision": 0.92,
                "cell_types_covered": 1.0,
                "n_cell_types": 3,
            }
        },
        layout.metrics("anchors"),
    )


def _write_model(layout: Layout) -> None:
    rows = []
    for stage, epochs in ((1, 3), (2, 3)):
        for e in range(1, epochs + 1):
            row = {"stage": stage, "epoch": e, "lr": 0.002 / e}
            for split in ("train", "val"):
                for s in SAMPLES:
                    row[f"{split}_nll_{s}"] = 2.0 / e
                    row[f"{split}_kl_{s}"] = 0.1 * e
                    if stage == 2:
                        row[f"{split}_cycle_{s}"] = 0.5 / e
                row[f"{split}_total"] = 9.0 / e + stage
                if stage == 2:
                    row[f"{split}_discriminator"] = 1.3
                    row[f"{split}_anchor"] = 0.4 / e
            rows.append(row)
    write_text(pd.DataFrame(rows).to_csv(index=False), layout.model_dir() / "history.csv")
    write_json(
        {
            "crossomics_version": "0.1.0",
            "arch": {"n_latent": 8},
            "train_config": {"lr": 0.002, "weight_decay": 1e-5},
            "loss_weights": {"kl": 1.0},
            "domains": [{"name": s, "modality": m} for s, m in SAMPLES.items()],
        },
        layout.model_dir() / "model.json",
    )
    metrics = {
        "n_cells": dict.fromkeys(SAMPLES, N_CELLS),
        "foscttm__rna_a__atac_a": 0.12,
        "ari_leiden": 0.61,
        "nmi_leiden": 0.66,
        "asw_celltype": 0.58,
        "modality_mixing": 0.74,
        "leiden_resolution": 0.8,
    }
    for a in SAMPLES:
        for b in SAMPLES:
            if a != b:
                metrics[f"label_transfer__{a}__{b}"] = 0.9 if (a, b) == ("rna_a", "atac_a") else 0.5
    write_json(metrics, layout.metrics("integration"))


def _write_downstream(layout: Layout, rng: np.random.Generator) -> None:
    """Generation, simulation and perturbation outputs as ``crossomics.tl`` writes them."""
    gen = ad.AnnData(np.ones((N_CELLS, 40), np.float32))
    gen.uns["crossomics_generate"] = {
        "source": "rna_a",
        "target": "atac_a",
        "source_modality": "rna",
        "target_modality": "atac",
        "likelihood": "bernoulli",
        "n_missing": 0,
    }
    write_h5ad(gen, layout.dir("generation") / "rna_a_to_atac_a.h5ad")
    generation = {
        "rna_a_to_atac_a": {
            "source": "rna_a",
            "target": "atac_a",
            "auroc": 0.71,
            "marker_overlap": 0.45,
            "marker_overlap_random": 0.1,
            "marker_overlap_per_type": {"B": 0.4, "T": 0.5},
        },
        "simulation_adt": {
            "sample": "adt_b",
            "n_cells": N_CELLS,
            "classifier_auc": 0.66,
            "classifier_auc_per_type": {"B": 0.6},
            "r_log_mean": 0.93,
        },
    }
    write_json(generation, layout.metrics("generation"))
    real = ad.read_h5ad(layout.qc_h5ad("rna_a"))
    write_h5ad(
        real.copy(), layout.dir("simulation") / "rna.h5ad"
    )  # a perfect simulation (r = 1), found by features
    adt = ad.read_h5ad(layout.qc_h5ad("adt_b"))
    adt.X = sp.csr_matrix(rng.poisson(3.0, adt.shape).astype(np.float32))
    adt.uns["crossomics_simulate"] = {"sample": "adt_b", "modality": "adt", "seed": 0}
    write_h5ad(adt, layout.dir("simulation") / "adt.h5ad")
    genes = [f"G{i}" for i in range(30)]
    shift = np.linspace(0, 1, 30)[::-1]
    summary = pd.DataFrame(
        {
            "rank": np.arange(1, 31),
            "gene": genes,
            "latent_shift": shift,
            "mode": "oe",
            "top_cell_types": [f"B:{x:.2f},T:0.1" for x in shift],
            "rna_top_up": [",".join(genes[i : i + 20]) for i in range(30)],
        }
    )
    write_tsv(summary, layout.dir("perturbation") / "summary.tsv")
    condition = pd.DataFrame(
        {"rank": np.arange(1, 31), "gene": genes[::-1], "shift_toward_reference": shift - 0.2}
    )
    write_tsv(condition, layout.dir("perturbation") / "condition_shift.tsv")
    pathways = pd.DataFrame(
        {
            "gene_set": ["SET_A", "SET_B"],
            "n_in_top": [3, 1],
            "pvalue": [0.2, 0.01],
            "fdr": [0.2, 0.02],
            "genes": ["G29,G28,G27", "G0"],
        }
    )
    write_tsv(pathways, layout.dir("perturbation") / "pathways.tsv")
    effects = pd.DataFrame(
        [
            (g, t, f"{t}:{k}", 0.1 * k, 0.2 * k, rng.normal() + (5 if k == 3 else 0), 0.1)
            for g in genes[:5]
            for t in ("rna", "atac")
            for k in range(12)
        ],
        columns=["gene", "target_modality", "feature", "delta", "lfc", "score", "naive"],
    )
    write_tsv(effects, layout.dir("perturbation") / "effects.tsv")
    write_json(
        {"genes": genes, "seconds": 1.2, "demo_truth": {"target_auroc": 0.91}}, layout.metrics("perturbation")
    )
    write_text(
        yaml.safe_dump({"CROSSOMICS_RUN": {"crossomics": "0.1.0", "python": "3.11.7"}}), layout.versions()
    )
    write_json(
        {"params": {"input": "samplesheet.csv", "seed": 0}, "stage_seconds": {"train": 1.5}}, layout.params()
    )
