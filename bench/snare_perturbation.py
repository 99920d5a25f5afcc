#!/usr/bin/env python3
"""SNARE-seq (mouse cortex, paired RNA + ATAC) in-silico perturbation benchmark: the figures of issue 7.

Prints, and writes to ``WORKDIR/bench_perturbation.json``:

1. knock-out sanity: KO of type-specific markers barely moves the cell types that lack them;
2. over-expression of interneuron markers (Gad2, Sst, ...) moves other cells toward the marker's type;
3. cross-modal: OE of a gene raises predicted accessibility of its own peaks more than of other peaks
   (AUROC per gene), against the naive co-expression predictor, for two definitions of own peaks: the
   promoter (TSS - 2 kb to + 500 bp) and gene body + 2 kb upstream;
4. chunked screen == single run (byte-identical tables);
5. accuracy of the default decoded-cell subset (score correlation with 5,000 decoded cells);
6. wall and CPU time of a knock-out screen of every HVG over all cells, on the CPU.

Usage: ``python bench/snare_perturbation.py [--workdir DIR] [--model DIR/model] [--epochs 30] [--threads 1]``.
Without ``--model`` the RNA and ATAC files of ``../shared/data`` are QC'd, preprocessed and a model is
trained in ``WORKDIR`` (shared barcodes as anchors: this benchmark is about perturbation, not pairing).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import anndata as ad
import numpy as np

from crossomics.io.layout import Layout
from crossomics.io.peaks import split_peak_names
from crossomics.io.read import read_matrix
from crossomics.io.samplesheet import SampleRow
from crossomics.io.write import write_json
from crossomics.model import CrossModel
from crossomics.priors.annotation import read_annotation
from crossomics.settings import set_threads
from crossomics.tl.perturb import Perturbation
from crossomics.tl.perturb_screen import DEFAULT_DECODE_CELLS, ScreenOptions, perturb_screen
from crossomics.tl.perturb_stage import run_merge, run_perturb
from crossomics.tl.perturb_truth import ranking_auroc

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SAMPLES = {"rna": "rna", "atac": "atac"}
KO_MARKERS = ("Sst", "Pvalb", "Vip", "Npy", "Mbp", "Plp1", "Gad2", "Foxp2")
OE_MARKERS = ("Gad2", "Gad1", "Sst", "Pvalb", "Vip")
ABSENT = 0.02  # a cell type lacks a gene when at most this fraction of its cells express it
UPSTREAM = 2000  # own peaks: this many bp upstream of the TSS (promoter, and gene body + promoter)
DOWNSTREAM = 500  # promoter: this many bp downstream of the TSS
N_CROSS_GENES = 50
STEPS = (
    "knockout_sanity",
    "marker_overexpression",
    "cross_modal_own_peaks",
    "chunked_equals_single",
    "decode_subset_accuracy",
    "full_hvg_screen",
)
# own-peak definitions: (region, fewest own peaks a scored gene needs)
OWN_PEAKS = {"promoter": ("promoter", 1), "body_promoter": ("body", 3)}


def prepare(workdir: Path, epochs: int) -> Path:
    """QC, preprocess and train (paired anchors) unless done before; returns the model folder."""
    from crossomics.model.train_step import run_train
    from crossomics.pp.features import run_preprocess
    from crossomics.pp.qc import run_qc

    layout = Layout(workdir)
    rows = []
    for i, (sample, modality) in enumerate(SAMPLES.items(), start=1):
        path = DATA / f"snare_chen2019_mouse_cortex_{sample}.h5ad"
        if not (workdir / "preprocess" / f"{sample}.h5ad").is_file():
            run_qc(read_matrix(path, modality=modality), sample, modality, layout)
            run_preprocess(ad.read_h5ad(layout.qc_h5ad(sample)), sample, modality, layout)
        rows.append(SampleRow(sample=sample, modality=modality, file=path, row=i))
    if not (workdir / "model" / "model.json").is_file():
        start = time.perf_counter()
        run_train(rows, layout, max_epochs=epochs, device="cpu", paired=True, evaluate_metrics=False)
        print(f"trained in {time.perf_counter() - start:.0f} s", flush=True)
    return workdir / "model"


def _screen(model: CrossModel, rna: ad.AnnData, genes: list[str], mode: str, **options) -> dict:
    return perturb_screen(
        model, rna, "rna", genes, options=ScreenOptions(perturbation=Perturbation(mode), **options)
    )


def knockout_sanity(model: CrossModel, rna: ad.AnnData, genes: list[str]) -> dict:
    """Per gene: shift of its home type against the largest shift among the types that lack it."""
    table = _screen(model, rna, genes, "ko", top_features=1)["cell_types"]
    out = {}
    for gene, rows in table.groupby("gene"):
        home = rows.loc[rows["frac_expressing"].idxmax()]
        absent = rows[rows["frac_expressing"] <= ABSENT]
        if len(absent):
            out[gene] = {
                "home_type": home["cell_type"],
                "home_shift": float(home["latent_shift"]),
                "absent_types": len(absent),
                "absent_max_shift": float(absent["latent_shift"].max()),
                "ratio": float(absent["latent_shift"].max() / max(home["latent_shift"], 1e-12)),
            }
    return out


def marker_overexpression(model: CrossModel, rna: ad.AnnData, genes: list[str]) -> dict:
    summary = _screen(model, rna, genes, "oe", top_features=1)["summary"].set_index("gene")
    columns = ["marker_type", "latent_shift", "toward_marker_type", "switched_to_marker_type"]
    return {g: {c: summary.loc[g, c] for c in columns} for g in summary.index}


def own_peaks(
    genes: list[str], peaks: list[str], annotation: Path, region: str = "body"
) -> dict[str, set[str]]:
    """Peaks overlapping each gene's promoter (``region="promoter"``: ``UPSTREAM`` bp before to
    ``DOWNSTREAM`` bp after the TSS) or its body plus ``UPSTREAM`` bp before the TSS (``"body"``), strand-aware."""
    table = read_annotation(annotation).drop_duplicates("gene_name").set_index("gene_name")
    coords, _ = split_peak_names(peaks)
    names = np.asarray(peaks, dtype=object)
    chrom = coords["chrom"].astype(str).to_numpy()
    start, end = coords["chromStart"].to_numpy(), coords["chromEnd"].to_numpy()
    out = {}
    for gene in genes:
        if gene not in table.index:
            continue
        g = table.loc[gene]
        plus = g["strand"] != "-"
        if region == "promoter":
            tss = g["start"] if plus else g["end"]
            lo, hi = (tss - UPSTREAM, tss + DOWNSTREAM) if plus else (tss - DOWNSTREAM, tss + UPSTREAM)
        else:
            lo, hi = (g["start"] - UPSTREAM, g["end"]) if plus else (g["start"], g["end"] + UPSTREAM)
        hit = (chrom == g["chrom"]) & (end > lo) & (start < hi)
        out[gene] = set(names[hit])
    return out


def cross_modal(model: CrossModel, rna: ad.AnnData, atac: ad.AnnData, annotation: Path) -> dict:
    """OE of the N_CROSS_GENES most detected genes with own peaks: AUROC of own peaks among all peak changes.

    One block per own-peak definition of ``OWN_PEAKS``, with the naive co-expression AUROC of the same genes.
    """
    features = list(map(str, model.domains["rna"].preprocess["features"]))
    counts = rna[:, features].layers["counts"]
    detected = dict(zip(features, np.asarray((counts > 0).mean(axis=0)).ravel(), strict=True))
    peak_names = list(model.domains["atac"].features)
    sets, genes = {}, {}
    for name, (region, least) in OWN_PEAKS.items():
        sets[name] = own_peaks(features, peak_names, annotation, region)
        eligible = [g for g in features if len(sets[name].get(g, ())) >= least]
        genes[name] = sorted(eligible, key=lambda g: -detected[g])[:N_CROSS_GENES]
    screened = sorted(set().union(*genes.values()))
    options = ScreenOptions(perturbation=Perturbation("oe"), top_features=0, target_modalities=("atac",))
    effects = perturb_screen(model, rna, "rna", screened, options=options, paired=[atac])["effects"]
    out = {}
    for name, (region, least) in OWN_PEAKS.items():
        own = sets[name]
        model_auc = {g: ranking_auroc(effects, g, "atac", own[g]) for g in genes[name]}
        naive_auc = {g: ranking_auroc(effects, g, "atac", own[g], column="naive") for g in genes[name]}
        m, n = np.array(list(model_auc.values())), np.array(list(naive_auc.values()))
        out[name] = {
            "genes": len(genes[name]),
            "min_own_peaks": least,
            "mean_own_peaks": float(np.mean([len(own[g]) for g in genes[name]])),
            "mean_auroc": float(np.nanmean(m)),
            "median_auroc": float(np.nanmedian(m)),
            "fraction_auroc_ge_0.7": float(np.nanmean(m >= 0.7)),
            "naive_mean_auroc": float(np.nanmean(n)),
            "naive_median_auroc": float(np.nanmedian(n)),
            "model_beats_naive": float(np.nanmean(m >= n)),
            "per_gene": {
                g: [round(model_auc[g], 3), round(naive_auc[g], 3), len(own[g])] for g in genes[name]
            },
        }
    return out


def chunked_equals_single(model_dir: Path, rna_path: Path, out: Path, genes: list[str]) -> dict:
    common = {"modality": "rna", "genes": genes, "options": ScreenOptions(perturbation=Perturbation("kd"))}
    run_perturb(model_dir, rna_path, out / "single", **common)
    for k in (1, 2, 3):
        run_perturb(model_dir, rna_path, out / f"chunk_{k}", chunk=k, n_chunks=3, **common)
    run_merge([out / f"chunk_{k}" for k in (1, 2, 3)], out / "merged")
    same = {
        name: (out / "single" / f"{name}.tsv").read_bytes() == (out / "merged" / f"{name}.tsv").read_bytes()
        for name in ("effects", "summary", "cell_types")
    }
    return {"genes": len(genes), "identical": same}


def decode_subset_accuracy(model: CrossModel, rna: ad.AnnData, genes: list[str]) -> dict:
    """Correlation of KO scores from the default number of decoded cells with those from 5,000 cells."""
    runs = {
        n: _screen(model, rna, genes, "ko", decode_cells=n, top_features=0, seed=1)["effects"]
        for n in (DEFAULT_DECODE_CELLS, 5000)
    }
    out = {}
    for (gene, modality), rows in runs[DEFAULT_DECODE_CELLS].groupby(["gene", "target_modality"]):
        ref = runs[5000]
        ref = ref[(ref["gene"] == gene) & (ref["target_modality"] == modality)].set_index("feature")["score"]
        out[f"{gene}/{modality}"] = round(
            float(np.corrcoef(rows["score"], ref.loc[rows["feature"]])[0, 1]), 3
        )
    return out


def full_screen(model_dir: Path, rna_path: Path, out: Path, decode_cells: int, threads: int | None) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    options = ScreenOptions(perturbation=Perturbation("ko"), decode_cells=decode_cells)
    settings = run_perturb(
        model_dir, rna_path, out, modality="rna", genes=None, options=options, threads=threads
    )
    return {
        "genes": settings["n_genes_screen"],
        "cells": settings["n_cells"],
        "decoded_cells": settings["n_decoded"],
        "targets": settings["targets"],
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        "torch_threads": settings["threads"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crossomics_snare_perturbation"))
    parser.add_argument("--model", type=Path, default=None, help="A trained SNARE model (skips training).")
    parser.add_argument("--epochs", type=int, default=30, help="Training epochs per stage (without --model).")
    parser.add_argument("--threads", type=int, default=None, help="torch threads [1]; 0: all cores.")
    parser.add_argument(
        "--decode-cells", type=int, default=DEFAULT_DECODE_CELLS, help="Decoded cells, full screen."
    )
    parser.add_argument(
        "--steps", default=",".join(STEPS), help=f"Comma-separated subset of {', '.join(STEPS)}."
    )
    args = parser.parse_args()
    set_threads(args.threads)
    model_dir = args.model or prepare(args.workdir, args.epochs)
    rna_path = (args.model.parent if args.model else args.workdir) / "preprocess" / "rna.h5ad"
    model = CrossModel.load(model_dir)
    rna, atac = ad.read_h5ad(rna_path), ad.read_h5ad(rna_path.with_name("atac.h5ad"))
    features = set(map(str, model.domains["rna"].preprocess["features"]))
    results = args.workdir / "bench_perturbation.json"
    figures: dict = json.loads(results.read_text()) if results.is_file() else {}
    steps = {
        "knockout_sanity": lambda: knockout_sanity(model, rna, [g for g in KO_MARKERS if g in features]),
        "marker_overexpression": lambda: marker_overexpression(
            model, rna, [g for g in OE_MARKERS if g in features]
        ),
        "cross_modal_own_peaks": lambda: cross_modal(
            model, rna, atac, DATA / "annotation" / "mm10_genes.gtf"
        ),
        "chunked_equals_single": lambda: chunked_equals_single(
            model_dir, rna_path, args.workdir / "chunks", sorted(features)[:12]
        ),
        "decode_subset_accuracy": lambda: decode_subset_accuracy(
            model, rna, [g for g in ("Sst", "Pvalb", "Ptprd", "Olfm3", "Mbp") if g in features]
        ),
        "full_hvg_screen": lambda: full_screen(
            model_dir, rna_path, args.workdir / "screen", args.decode_cells, args.threads
        ),
    }
    for name in args.steps.split(","):
        step = steps[name]
        start = time.perf_counter()
        figures[name] = step()
        print(f"== {name} ({time.perf_counter() - start:.0f} s)")
        print(json.dumps(figures[name], indent=1, default=str), flush=True)
        write_json(json.loads(json.dumps(figures, default=str)), results)


if __name__ == "__main__":
    main()
