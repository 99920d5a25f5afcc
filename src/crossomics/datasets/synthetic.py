"""The demo simulator: paired and unpaired RNA, ATAC and ADT with cell types, batches and a known effect.

Cells belong to five immune-like types, each with a marker program. A per-cell driver activity (higher in
``stim`` than in ``ctrl`` cells) raises the driver gene, its target genes, the peaks of driver and targets
(the linked peaks) and the proteins of targets. Driver, targets and linked peaks are written as ground truth.

Samples: ``rna_a`` + ``atac_a`` (paired: same cells, batch ``b1``), ``rna_b`` + ``adt_b`` (paired, batch
``b2``, other cells, so ``rna_b`` is unpaired with respect to ATAC).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS, MODALITY_ADT, MODALITY_ATAC, MODALITY_RNA
from ..io.write import atomic_path, write_json, write_text
from .demo_genome import (
    DRIVER,
    HOUSEKEEPING,
    MARKERS,
    MITO_GENES,
    PROTEINS,
    TARGETS,
    curated_genes,
    gmt_text,
    gtf_text,
    make_genome,
)

CTRL, STIM = "ctrl", "stim"
CELL_TYPE_FRACTIONS = {"CD4 T": 0.3, "CD8 T": 0.2, "B": 0.25, "NK": 0.1, "Monocyte": 0.15}
EXTRA_PROGRAM_GENES = 25  # filler genes added to each cell type's program besides the named markers
DRIVER_STIM_SHIFT = 1.6  # driver activity added in stim cells (log scale)
DRIVER_NOISE = 0.5  # cell-to-cell spread of driver activity (log scale)
DRIVER_BASE = 1.5  # driver baseline: well detected, so its co-variation with targets shows in ctrl cells too
N_RANDOM_SETS = 5


@dataclass(frozen=True)
class DemoSample:
    """One sample of the demo: id, modality, batch and its AnnData (counts int32 CSR)."""

    sample: str
    modality: str
    batch: str
    adata: AnnData


@dataclass(frozen=True)
class Demo:
    """Everything the simulator makes: samples, ground truth, the gene table (for the GTF) and gene sets."""

    samples: list[DemoSample]
    truth: dict[str, Any]
    genes: pd.DataFrame
    gene_sets: dict[str, list[str]]
    set_descriptions: dict[str, str]


def _nb(mean: np.ndarray, theta: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
    """Negative-binomial counts (gamma-Poisson) with the given mean and inverse dispersion."""
    theta = np.broadcast_to(theta, mean.shape)
    return rng.poisson(mean * rng.gamma(theta, 1.0 / theta)).astype(np.int32)


def _programs(genes: pd.Index, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Per cell type: gene -> log fold change (named markers strongest, plus filler program genes)."""
    reserved = {DRIVER, *TARGETS, *HOUSEKEEPING, *MITO_GENES, *(g for p in MARKERS.values() for g in p)}
    filler = np.array([g for g in genes if g not in reserved])
    programs = {}
    for cell_type, markers in MARKERS.items():
        extra = rng.choice(filler, EXTRA_PROGRAM_GENES, replace=False)
        lfc = dict(zip(markers, rng.uniform(1.2, 2.4, len(markers)), strict=True))
        lfc.update(zip(extra, rng.uniform(0.5, 1.5, EXTRA_PROGRAM_GENES), strict=True))
        programs[cell_type] = lfc
    return programs


def _gene_effects(genes: pd.Index, programs: dict[str, dict[str, float]]) -> np.ndarray:
    """Cell types x genes matrix of program log fold changes."""
    effects = np.zeros((len(programs), len(genes)))
    for t, lfc in enumerate(programs.values()):
        effects[t, genes.get_indexer(list(lfc))] = list(lfc.values())
    return effects


def _cells(n_cells: int, rng: np.random.Generator) -> pd.DataFrame:
    """Cell table: barcode, cell type, condition, driver activity, group (a or b)."""
    types = list(CELL_TYPE_FRACTIONS)
    barcodes: set[str] = set()
    while len(barcodes) < n_cells:
        barcodes.add("".join(rng.choice(list("ACGT"), 16)) + "-1")
    stim = rng.random(n_cells) < 0.5
    n_a = n_cells // 2
    return pd.DataFrame(
        {
            KEYS.cell_type: pd.Categorical(
                rng.choice(types, n_cells, p=list(CELL_TYPE_FRACTIONS.values())), categories=types
            ),
            KEYS.condition: pd.Categorical(np.where(stim, STIM, CTRL), categories=[CTRL, STIM]),
            "driver_activity": rng.normal(0.0, DRIVER_NOISE, n_cells) + DRIVER_STIM_SHIFT * stim,
            "group": np.array(["a"] * n_a + ["b"] * (n_cells - n_a)),
        },
        index=pd.Index(sorted(barcodes), dtype=str),
    )


def _driver_weights(genes: pd.Index, rng: np.random.Generator) -> pd.Series:
    """How strongly each gene follows driver activity: 1 for the driver, 0.7-1.2 for targets, 0 otherwise."""
    weights = pd.Series(0.0, index=genes)
    weights[DRIVER] = 1.0
    weights[list(TARGETS)] = rng.uniform(0.7, 1.2, len(TARGETS))
    return weights


def _log_programs(cells: pd.DataFrame, effects: np.ndarray, weights: pd.Series) -> np.ndarray:
    """Cells x genes log-scale shift from the cell's type program and its driver activity."""
    type_index = cells[KEYS.cell_type].cat.codes.to_numpy()
    return effects[type_index] + np.outer(cells["driver_activity"].to_numpy(), weights.to_numpy())


def _rna(cells: pd.DataFrame, shift: np.ndarray, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RNA counts: softmax of gene base + programs + a batch effect, times a log-normal library size."""
    batch_effect = rng.normal(0.0, 0.15, base.size)
    logits = base + batch_effect + shift
    fractions = np.exp(logits - logits.max(axis=1, keepdims=True))
    fractions /= fractions.sum(axis=1, keepdims=True)
    library = rng.lognormal(np.log(1_000), 0.35, len(cells))
    return _nb(fractions * library[:, None], rng.uniform(2.0, 10.0, base.size), rng)


def _atac(
    cells: pd.DataFrame, shift: np.ndarray, genes: pd.Index, peaks: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """Peak counts: each peak follows its gene's program and driver shift by its ``link`` weight."""
    gene_of_peak = genes.get_indexer(peaks["peak_gene"])
    logits = rng.normal(0.0, 0.5, len(peaks)) + shift[:, gene_of_peak] * peaks["link"].to_numpy()
    rates = np.exp(logits)
    rates /= rates.sum(axis=1, keepdims=True)
    depth = rng.lognormal(np.log(500), 0.4, len(cells))
    return rng.poisson(rates * depth[:, None]).astype(np.int32)


def _adt(cells: pd.DataFrame, shift: np.ndarray, genes: pd.Index, rng: np.random.Generator) -> np.ndarray:
    """Protein counts: NB around the gene's program level plus ambient background (isotype: background)."""
    gene_idx = genes.get_indexer([g or "" for g in PROTEINS.values()])
    level = np.where(gene_idx >= 0, shift[:, np.maximum(gene_idx, 0)], -np.inf)
    base = rng.uniform(np.log(10), np.log(40), len(PROTEINS))
    size = rng.lognormal(0.0, 0.3, len(cells))[:, None]
    signal = size * np.exp(base + 1.2 * level)
    return _nb(signal + rng.uniform(3.0, 15.0, len(PROTEINS)), 10.0, rng)


def _as_adata(counts: np.ndarray, obs: pd.DataFrame, var: pd.DataFrame, batch: str, truth: dict) -> AnnData:
    obs = obs[[KEYS.cell_type, KEYS.condition]].copy()
    obs[KEYS.batch] = pd.Categorical([batch] * len(obs))
    adata = AnnData(X=sp.csr_matrix(counts, dtype=np.int32), obs=obs, var=var)
    adata.uns[KEYS.demo_truth] = truth
    return adata


def simulate_demo(*, n_cells: int = 1200, n_genes: int = 1200, seed: int = 0) -> Demo:
    """Simulate the demo samples and their ground truth (nothing is written).

    Parameters
    ----------
    n_cells
        Cells in all samples together (half in the RNA+ATAC pair, half in the RNA+ADT pair).
    n_genes
        Genes including 8 mitochondrial ones (at least the named genes plus 125 program genes).
    seed
        Seed of every random draw: the same seed gives identical samples.

    Returns
    -------
    A :class:`Demo`: the samples (each AnnData: ``X`` int32 CSR counts; ``obs`` ``cell_type``, ``condition``,
    ``batch``; RNA ``var`` ``gene_id``; ATAC ``var`` ``chrom``, ``chromStart``, ``chromEnd``, ``peak_gene``,
    ``peak_type``; ADT ``var`` ``gene``; ``uns["demo_truth"]``), the ground truth (driver, targets, linked
    peaks and proteins, programs), the gene table and the gene sets (programs, targets, random sets).
    """
    fewest = len(curated_genes()) + len(MITO_GENES) + len(MARKERS) * EXTRA_PROGRAM_GENES
    if n_genes < fewest:
        msg = f"n_genes={n_genes}: the demo needs at least {fewest} genes (named genes plus program genes)"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    genome = make_genome(n_genes, rng)
    genes = pd.Index(genome.genes["gene_name"])
    programs = _programs(genes, rng)
    weights = _driver_weights(genes, rng)
    cells = _cells(n_cells, rng)
    shift = _log_programs(cells, _gene_effects(genes, programs), weights)
    base = rng.normal(-0.5, 1.2, len(genes))
    base[genes.get_indexer(list(HOUSEKEEPING))] += 3.0
    base[genes.get_indexer(list(MITO_GENES))] += 2.0
    base[genes.get_indexer(list(TARGETS))] = rng.uniform(-0.5, 0.5, len(TARGETS))
    base[genes.get_loc(DRIVER)] = DRIVER_BASE

    peaks = genome.peaks
    follows = peaks["peak_gene"].isin([DRIVER, *TARGETS]) & (peaks["link"] > 0)
    truth = {
        "seed": seed,
        "driver": DRIVER,
        "targets": list(TARGETS),
        "target_weights": {g: float(weights[g]) for g in TARGETS},
        "linked_peaks": peaks.index[follows].tolist(),
        "linked_proteins": [p for p, g in PROTEINS.items() if g in TARGETS],
        "condition_key": KEYS.condition,
        "reference_condition": CTRL,
        "perturbed_condition": STIM,
        "driver_stim_shift": DRIVER_STIM_SHIFT,
        "markers": {t: list(MARKERS[t]) for t in MARKERS},
        "programs": {t: sorted(lfc) for t, lfc in programs.items()},
        "paired": {"rna_a": "atac_a", "rna_b": "adt_b"},
    }
    gene_var = genome.genes[["gene_id"]].copy()
    peak_var = peaks[[KEYS.chrom, KEYS.chrom_start, KEYS.chrom_end, "peak_gene", "peak_type"]].copy()
    adt_var = pd.DataFrame({"gene": list(PROTEINS.values())}, index=pd.Index(list(PROTEINS), dtype=str))
    samples = []
    for group, batch, other in (("a", "b1", MODALITY_ATAC), ("b", "b2", MODALITY_ADT)):
        mask = (cells["group"] == group).to_numpy()
        obs = cells[mask]
        rna = _rna(obs, shift[mask], base, rng)
        samples.append(
            DemoSample(f"rna_{group}", MODALITY_RNA, batch, _as_adata(rna, obs, gene_var, batch, truth))
        )
        if other == MODALITY_ATAC:
            counts, var = _atac(obs, shift[mask], genes, peaks, rng), peak_var
        else:
            counts, var = _adt(obs, shift[mask], genes, rng), adt_var
        samples.append(
            DemoSample(f"{other}_{group}", other, batch, _as_adata(counts, obs, var, batch, truth))
        )
    sets, descriptions = _gene_sets(truth, genes, rng)
    return Demo(samples, truth, genome.genes, sets, descriptions)


def _gene_sets(truth: dict[str, Any], genes: pd.Index, rng: np.random.Generator) -> tuple[dict, dict]:
    sets = {f"DEMO_{t.upper().replace(' ', '_')}_PROGRAM": g for t, g in truth["programs"].items()}
    descriptions = {name: "marker program of a demo cell type" for name in sets}
    name = f"DEMO_{DRIVER.upper()}_TARGETS"
    sets[name] = list(truth["targets"])
    descriptions[name] = f"genes raised by the demo driver {DRIVER}"
    for i in range(1, N_RANDOM_SETS + 1):
        sets[f"DEMO_RANDOM_{i}"] = sorted(
            rng.choice(genes.to_numpy(), int(rng.integers(15, 41)), replace=False)
        )
        descriptions[f"DEMO_RANDOM_{i}"] = "random genes (a null set)"
    return sets, descriptions


def write_demo(outdir: str | Path, *, n_cells: int = 1200, seed: int = 0) -> dict[str, Path]:
    """Simulate the demo and write it to ``outdir``.

    Writes ``<sample>.h5ad`` per sample (gzip-compressed), ``samplesheet.csv`` (columns sample, modality,
    file, batch, condition; relative paths; condition left empty because it varies per cell in
    ``obs["condition"]``), ``genes.gtf``, ``genesets.gmt`` and ``demo_truth.json``.

    Returns
    -------
    Name -> path of every file written.
    """
    outdir = Path(outdir)
    demo = simulate_demo(n_cells=n_cells, seed=seed)
    samples = demo.samples
    written: dict[str, Path] = {}
    for s in samples:
        path = outdir / f"{s.sample}.h5ad"
        with atomic_path(path) as tmp:
            s.adata.write_h5ad(tmp, compression="gzip")
        written[s.sample] = path
    sheet = pd.DataFrame(
        {
            "sample": [s.sample for s in samples],
            "modality": [s.modality for s in samples],
            "file": [f"{s.sample}.h5ad" for s in samples],
            "batch": [s.batch for s in samples],
            "condition": "",
        }
    )
    written["samplesheet"] = write_text(sheet.to_csv(index=False), outdir / "samplesheet.csv")
    written["gtf"] = write_text(gtf_text(demo.genes, seed=seed), outdir / "genes.gtf")
    written["gmt"] = write_text(gmt_text(demo.gene_sets, demo.set_descriptions), outdir / "genesets.gmt")
    written["truth"] = write_json(demo.truth, outdir / "demo_truth.json")
    return written
