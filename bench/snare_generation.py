#!/usr/bin/env python3
"""Benchmark: generation, simulation and their fidelity on SNARE-seq, with a held-out fifth of paired cells.

The crossomics steps (validate, qc+preprocess, priors, train; unpaired) run on four fifths of the cells; the
held-out fifth (new cells, never seen) is translated ATAC -> RNA and RNA -> ATAC and compared with its own
other modality. Simulated cells are compared with the held-out cells of each type; 100,000 matched cells are
simulated and timed. Prints the figures of issue 6 next to its bars and references.

    .venv/bin/python bench/snare_generation.py [--outdir DIR] [--device auto] [--max-epochs N] [--n-cells N]
                                               [--reuse]  (evaluate the model already trained in --outdir)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BARS = {
    "gene_r": (">=", 0.15),
    "cell_r": (">=", 0.55),
    "classifier_auc": ("<=", 0.75),
    "mean_r": (">=", 0.90),
}
REFERENCES = {
    "gene_r": "scGLUE 0.120 (in-sample), scCross 0.011 (3,000 cells)",
    "cell_r": "scGLUE 0.530 (in-sample)",
}


def split_cells(n_cells: int | None, seed: int) -> tuple[ad.AnnData, ad.AnnData, np.ndarray]:
    """SNARE RNA and ATAC (same cells) and a boolean mask of the held-out fifth."""
    rna = ad.read_h5ad(DATA / "snare_chen2019_mouse_cortex_rna.h5ad")
    atac = ad.read_h5ad(DATA / "snare_chen2019_mouse_cortex_atac.h5ad")
    rng = np.random.default_rng(seed)
    if n_cells:
        keep = np.sort(rng.choice(rna.n_obs, n_cells, replace=False))
        rna, atac = rna[keep].copy(), atac[keep].copy()
    held = np.zeros(rna.n_obs, dtype=bool)
    held[rng.choice(rna.n_obs, rna.n_obs // 5, replace=False)] = True
    return rna, atac, held


def train(root: Path, rna: ad.AnnData, atac: ad.AnnData, args: argparse.Namespace) -> dict[str, float]:
    """The pipeline's own stages (as ``crossomics run`` calls them) on the training cells; seconds each."""
    from crossomics.io.layout import Layout
    from crossomics.runner import (
        Context,
        RunOptions,
        stage_priors,
        stage_qc_preprocess,
        stage_train,
        stage_validate,
    )

    rna.write_h5ad(root / "train_rna.h5ad")
    atac.write_h5ad(root / "train_atac.h5ad")
    sheet = root / "samplesheet.csv"
    sheet.write_text(
        f"sample,modality,file\nrna,rna,{root / 'train_rna.h5ad'}\natac,atac,{root / 'train_atac.h5ad'}\n"
    )
    options = RunOptions(
        input=sheet,
        outdir=root / "results",
        device=args.device,
        seed=args.seed,
        max_epochs=args.max_epochs,
        annotation=DATA / "annotation" / "mm10_genes.gtf",
        gene_sets=[DATA / "genesets" / "mouse_msigdb_m2_cp_v2023.1.gmt"],
    )
    ctx = Context(options=options, layout=Layout(options.outdir))
    seconds = {}
    for name, stage in (
        ("validate", stage_validate),
        ("qc+preprocess", stage_qc_preprocess),
        ("priors", stage_priors),
        ("train", stage_train),
    ):
        start = time.perf_counter()
        line = stage(ctx)
        seconds[name] = round(time.perf_counter() - start, 1)
        print(f"[{name}] {line} ({seconds[name]} s)", file=sys.stderr)
    return seconds


def type_mean_baseline(
    train_rna: ad.AnnData, test_labels: np.ndarray, genes: list[str], *, key: str = "cell_type"
) -> np.ndarray:
    """Each held-out cell's true cell type's mean training profile (the reference scale of issue 6);
    ``key`` names the labels (``cell_type_fine``: the 22 original clusters)."""
    x = train_rna[:, genes].X.toarray().astype(np.float64)
    labels = train_rna.obs[key].astype(str).to_numpy()
    means = {t: x[labels == t].mean(0) for t in np.unique(labels)}
    return np.vstack([means[t] for t in test_labels])


def evaluate(
    root: Path, rna: ad.AnnData, atac: ad.AnnData, held: np.ndarray, args: argparse.Namespace
) -> dict:
    from crossomics.metrics.generation import gene_cell_correlation, generation_fidelity, simulation_realism
    from crossomics.model.inputs import select_counts
    from crossomics.tl import generate, load_latent_prior, load_model, simulate

    model_dir = root / "results" / "model"
    model = load_model(model_dir, device=args.device)
    test_rna, test_atac = rna[held].copy(), atac[held].copy()
    labels = test_rna.obs["cell_type"].astype(str).to_numpy()
    genes, peaks = model.domains["rna"].features, model.domains["atac"].features
    real_rna, _ = select_counts(test_rna, genes, source="held-out RNA")
    real_atac, _ = select_counts(test_atac, peaks, source="held-out ATAC")
    out: dict = {"n_train_cells": int((~held).sum()), "n_heldout_cells": int(held.sum())}
    start = time.perf_counter()
    to_rna = generate(model, test_atac, source="atac", target="rna")
    to_atac = generate(model, test_rna, source="rna", target="atac")
    out["generation_seconds"] = round(time.perf_counter() - start, 2)
    out["atac_to_rna"] = generation_fidelity(
        to_rna.X, real_rna, likelihood="nb", labels=labels, max_cells=10**6
    )
    out["rna_to_atac"] = generation_fidelity(to_atac.X, real_atac, likelihood="bernoulli", labels=labels)
    baseline = type_mean_baseline(rna[~held], labels, genes)
    out["reference_true_type_mean"] = gene_cell_correlation(baseline, real_rna)
    fine = test_rna.obs["cell_type_fine"].astype(str).to_numpy()
    fine_baseline = type_mean_baseline(rna[~held], fine, genes, key="cell_type_fine")
    out["reference_true_fine_type_mean"] = gene_cell_correlation(fine_baseline, real_rna)
    # the ceiling of perfect alignment: each held-out cell's own RNA through the model and back
    own = generate(model, test_rna, source="rna", target="rna")
    out["reference_own_rna_reconstruction"] = gene_cell_correlation(own.X, real_rna)
    prior = load_latent_prior(model, model_dir, seed=args.seed)
    types, counts = np.unique(labels, return_counts=True)
    shares = dict(zip(types, counts.tolist(), strict=True))
    for dispersion in ("model", "calibrated"):
        sims = simulate(
            model, prior, n_cells=len(labels), proportions=shares, seed=args.seed, dispersion=dispersion
        )
        for name, real in (("rna", real_rna), ("atac", (real_atac > 0).astype(np.float32))):
            sim = sims[name]
            out[f"simulation_{name}_{dispersion}"] = simulation_realism(
                real, labels, sim.X, sim.obs["cell_type"].astype(str).to_numpy(), seed=args.seed
            )
    start, cpu = time.perf_counter(), time.process_time()
    big = simulate(model, prior, n_cells=args.n_sim, seed=args.seed)
    out["simulate_seconds"] = round(time.perf_counter() - start, 1)
    out["simulate_cpu_seconds"] = round(
        time.process_time() - cpu, 1
    )  # the wall time counts other users' load
    out["simulate_cells"] = args.n_sim
    out["simulate_features"] = {k: v.n_vars for k, v in big.items()}
    start = time.perf_counter()
    for name, adata in big.items():
        adata.write_h5ad(root / f"sim_{name}.h5ad")
    out["simulate_write_seconds"] = round(time.perf_counter() - start, 1)
    return out


def report(figures: dict) -> None:
    rows = [
        ("ATAC->RNA gene r (held-out)", figures["atac_to_rna"]["gene_r"], "gene_r"),
        ("ATAC->RNA cell r (held-out)", figures["atac_to_rna"]["cell_r"], "cell_r"),
        ("  shuffled-cells control gene r", figures["atac_to_rna"]["gene_r_shuffled"], None),
        ("  true type-mean profile gene r", figures["reference_true_type_mean"]["gene_r"], None),
        ("  true type-mean profile cell r", figures["reference_true_type_mean"]["cell_r"], None),
        ("  true fine-type mean profile gene r", figures["reference_true_fine_type_mean"]["gene_r"], None),
        ("  true fine-type mean profile cell r", figures["reference_true_fine_type_mean"]["cell_r"], None),
        ("  own RNA reconstructed, gene r", figures["reference_own_rna_reconstruction"]["gene_r"], None),
        ("  own RNA reconstructed, cell r", figures["reference_own_rna_reconstruction"]["cell_r"], None),
        ("ATAC->RNA marker overlap (top 50)", figures["atac_to_rna"]["marker_overlap"], None),
        ("RNA->ATAC AUROC", figures["rna_to_atac"]["auroc"], None),
        ("  peak-frequency control AUROC", figures["rna_to_atac"]["auroc_peak_frequency"], None),
        ("RNA->ATAC per-cell AUROC", figures["rna_to_atac"]["auroc_per_cell"], None),
        ("  peak-frequency control per cell", figures["rna_to_atac"]["auroc_per_cell_peak_frequency"], None),
        ("simulated RNA classifier AUC", figures["simulation_rna_model"]["classifier_auc"], "classifier_auc"),
        ("  with the calibrated dispersion", figures["simulation_rna_calibrated"]["classifier_auc"], None),
        ("simulated RNA r log mean", figures["simulation_rna_model"]["mean_r"], "mean_r"),
        ("simulated RNA r log variance", figures["simulation_rna_model"]["var_r"], None),
        ("simulated RNA r zero fraction", figures["simulation_rna_model"]["zero_fraction_r"], None),
        ("simulated ATAC classifier AUC", figures["simulation_atac_model"]["classifier_auc"], None),
        ("simulated ATAC r log mean", figures["simulation_atac_model"]["mean_r"], None),
    ]
    print(f"{'figure':<38}{'crossomics':>11}{'bar':>9}  reference")
    for label, value, key in rows:
        op, bar = BARS.get(key, ("", None)) if key else ("", None)
        ok = "" if bar is None else ("  ok" if (value <= bar if op == "<=" else value >= bar) else "  MISSED")
        print(f"{label:<38}{value:>11.3f}{(op + str(bar)) if bar else '':>9}{ok}  {REFERENCES.get(key, '')}")
    print(
        f"simulate {figures['simulate_cells']:,} cells ({figures['simulate_features']}): "
        f"{figures['simulate_seconds']} s wall ({figures['simulate_cpu_seconds']} s CPU), "
        f"writing {figures['simulate_write_seconds']} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--outdir", type=Path, default=None, help="work folder (default: a new temporary one)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument(
        "--n-cells", type=int, default=None, help="random subset of cells (default: all 10,309)"
    )
    parser.add_argument("--n-sim", type=int, default=100_000, help="cells in the timed simulation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="evaluate the model already trained in --outdir")
    args = parser.parse_args()

    root = args.outdir or Path(tempfile.mkdtemp(prefix="crossomics-snare-generation-"))
    root.mkdir(parents=True, exist_ok=True)
    rna, atac, held = split_cells(args.n_cells, args.seed)
    start = time.perf_counter()
    if args.reuse and (root / "results" / "model" / "model.json").is_file():
        seconds = {"train": "reused " + str(root / "results" / "model")}
    else:
        seconds = train(root, rna[~held].copy(), atac[~held].copy(), args)
    figures = evaluate(root, rna, atac, held, args)
    figures["stage_seconds"] = seconds
    figures["wall_s"] = round(time.perf_counter() - start, 1)
    (root / "snare_generation.json").write_text(json.dumps(figures, indent=1, default=float) + "\n")
    print(
        f"SNARE-seq, held-out fifth ({figures['n_heldout_cells']} cells), trained unpaired on "
        f"{figures['n_train_cells']}; work folder {root}"
    )
    report(figures)


if __name__ == "__main__":
    main()
