"""Scale-benchmark data: paired RNA + ATAC of any size from the demo simulator's parts, as sparse counts.

The cell table, cell-type programs, driver activity, genome, GTF and gene sets are the demo simulator's
(:mod:`crossomics.datasets.synthetic`). What changes with size is done in chunks of cells:

* RNA is drawn one chunk at a time (dense only for the chunk: chunk x genes);
* ATAC is never a matrix of rates. Peak counts are Poisson with rate ``depth * softmax(logits)``; the logits
  depend on the cell's type except for the peaks of the driver and its targets, which also follow the cell's
  driver activity. By Poisson splitting, each cell draws a Poisson total for its type-only peaks and spreads
  it over them by one lookup in its type's cumulative distribution, and draws the few driver-linked peaks
  directly. Counts go straight into CSR, so memory is proportional to the non-zeros.

The demo genome has about two peaks per gene; distal peaks near random genes (30% following their gene) are
added, without overlaps, up to exactly ``n_peaks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS, MODALITY_ATAC, MODALITY_RNA
from ..io.write import atomic_path, write_json, write_text
from . import synthetic
from .demo_genome import CHROMOSOMES, MITO_CHROM, TARGETS, gmt_text, gtf_text, make_genome

RNA_LIBRARY = 1_000  # median RNA counts per cell (as the demo)
ATAC_DEPTH = 1_000  # median ATAC counts in peaks per cell (demo: 500 over ~2 peaks per gene)
DISTAL_RANGE = (3_000, 100_000)  # distance of added distal peaks from their gene's TSS
DISTAL_WIDTH = 500
DISTAL_LINKED = 0.3  # share of added distal peaks that follow their gene
DISTAL_LINK = 0.6  # how strongly they follow it (the demo's distal link)
CHUNK_CELLS = 2_000


@dataclass(frozen=True)
class ScaleData:
    """Paired RNA and ATAC samples (same cells, same order; X int32 CSR counts) and the genome behind them."""

    rna: AnnData
    atac: AnnData
    genes: pd.DataFrame
    gene_sets: dict[str, list[str]]
    set_descriptions: dict[str, str]


def scale_peaks(
    genome_peaks: pd.DataFrame, genes: pd.DataFrame, n_peaks: int, rng: np.random.Generator
) -> pd.DataFrame:
    """The demo's peaks plus non-overlapping distal peaks near random genes, exactly ``n_peaks`` in all."""
    n_extra = n_peaks - len(genome_peaks)
    if n_extra < 0:
        msg = f"n_peaks={n_peaks}: the demo genome already has {len(genome_peaks)} peaks for these genes"
        raise ValueError(msg)
    nuclear = genes[genes["chrom"] != MITO_CHROM]
    extra = []
    while n_extra > 0 and sum(len(e) for e in extra) < n_extra:
        n_try = int(1.3 * n_extra) + 100
        host = nuclear.iloc[rng.integers(len(nuclear), size=n_try)]
        tss = np.where(host["strand"].to_numpy() == "+", host["start"].to_numpy(), host["end"].to_numpy())
        offset = rng.integers(*DISTAL_RANGE, size=n_try) * rng.choice([-1, 1], size=n_try)
        size = host["chrom"].map(CHROMOSOMES).to_numpy()
        start = np.clip(tss + offset - DISTAL_WIDTH // 2, 0, size - DISTAL_WIDTH)
        link = np.where(rng.random(n_try) < DISTAL_LINKED, DISTAL_LINK, 0.0)
        cand = pd.DataFrame(
            {
                KEYS.chrom: host["chrom"].to_numpy(),
                KEYS.chrom_start: start,
                KEYS.chrom_end: start + DISTAL_WIDTH,
                "peak_gene": host["gene_name"].to_numpy(),
                "peak_type": "distal",
                "link": link,
            }
        )
        kept = _without_overlaps(
            pd.concat([genome_peaks.assign(extra=False), *extra, cand.assign(extra=True)])
        )
        extra = [kept[kept["extra"]]]
    peaks = genome_peaks.assign(extra=False)
    if n_extra > 0:
        added = extra[0]
        added = added.iloc[np.sort(rng.choice(len(added), n_extra, replace=False))]
        peaks = pd.concat([peaks, added])
    peaks = peaks.drop(columns="extra").sort_values(
        [KEYS.chrom, KEYS.chrom_start], kind="stable", ignore_index=True
    )
    peaks.index = (
        peaks[KEYS.chrom]
        + ":"
        + peaks[KEYS.chrom_start].astype(str)
        + "-"
        + peaks[KEYS.chrom_end].astype(str)
    )
    return peaks


def _without_overlaps(peaks: pd.DataFrame) -> pd.DataFrame:
    """Drop every added peak (``extra``) that overlaps any other peak; the demo's own peaks are kept."""
    peaks = peaks.sort_values([KEYS.chrom, KEYS.chrom_start], kind="stable", ignore_index=True)
    start, end = peaks[KEYS.chrom_start].to_numpy(), peaks[KEYS.chrom_end].to_numpy()
    chrom = peaks[KEYS.chrom].to_numpy()
    new_chrom = np.r_[True, chrom[1:] != chrom[:-1]]
    # furthest end of any earlier peak on the same chromosome
    group = np.cumsum(new_chrom)
    prev_end = pd.Series(end).groupby(group).cummax().groupby(group).shift(1).fillna(-1).to_numpy()
    next_start = pd.Series(start).groupby(group).shift(-1).fillna(np.inf).to_numpy()
    overlaps = (start < prev_end) | (end > next_start)
    return peaks[~(overlaps & peaks["extra"].to_numpy())]


def _rna_chunk(
    shift: np.ndarray, base: np.ndarray, theta: np.ndarray, rng: np.random.Generator
) -> sp.csr_matrix:
    """RNA counts of one chunk: softmax of base + programs, times a log-normal library size, NB noise."""
    logits = base + shift
    fractions = np.exp(logits - logits.max(axis=1, keepdims=True))
    fractions /= fractions.sum(axis=1, keepdims=True)
    library = rng.lognormal(np.log(RNA_LIBRARY), 0.35, len(shift))
    return sp.csr_matrix(synthetic._nb(fractions * library[:, None], theta, rng))


class _AtacSampler:
    """Sparse ATAC counts per chunk of cells without a dense cells x peaks matrix (see the module docstring)."""

    def __init__(
        self,
        peaks: pd.DataFrame,
        genes: pd.Index,
        effects: np.ndarray,
        weights: pd.Series,
        rng: np.random.Generator,
    ) -> None:
        gene_of_peak = genes.get_indexer(peaks["peak_gene"])
        link = peaks["link"].to_numpy()
        noise = rng.normal(0.0, 0.5, len(peaks))
        w = weights.to_numpy()[gene_of_peak] * link
        self.driver_peaks = np.flatnonzero(w != 0)
        self.driver_w = w[self.driver_peaks]
        type_logits = noise + effects[:, gene_of_peak] * link  # types x peaks
        type_rates = np.exp(type_logits)
        self.driver_rates = type_rates[:, self.driver_peaks]  # types x driver-linked peaks
        fixed = type_rates.copy()
        fixed[:, self.driver_peaks] = 0.0
        self.fixed_mass = fixed.sum(axis=1)
        self.fixed_cdf = np.cumsum(fixed, axis=1) / self.fixed_mass[:, None]
        self.n_peaks = len(peaks)

    def sample(self, types: np.ndarray, driver: np.ndarray, rng: np.random.Generator) -> sp.csr_matrix:
        n = len(types)
        drv = self.driver_rates[types] * np.exp(np.outer(driver, self.driver_w))
        mass = self.fixed_mass[types] + drv.sum(axis=1)
        depth = rng.lognormal(np.log(ATAC_DEPTH), 0.4, n) / mass
        drv_counts = rng.poisson(drv * depth[:, None])
        n_fixed = rng.poisson(self.fixed_mass[types] * depth)
        rows, cols = [], []
        for t in np.unique(types):
            cells = np.flatnonzero(types == t)
            cell_of_draw = np.repeat(cells, n_fixed[cells])
            draws = np.searchsorted(self.fixed_cdf[t], rng.random(cell_of_draw.size), side="right")
            rows.append(cell_of_draw)
            cols.append(np.minimum(draws, self.n_peaks - 1))
        r, c = np.nonzero(drv_counts)
        rows.append(np.repeat(r, drv_counts[r, c]))
        cols.append(np.repeat(self.driver_peaks[c], drv_counts[r, c]))
        rows_all, cols_all = np.concatenate(rows), np.concatenate(cols)
        data = np.ones(rows_all.size, dtype=np.int32)
        out = sp.csr_matrix((data, (rows_all, cols_all)), shape=(n, self.n_peaks), dtype=np.int32)
        out.sum_duplicates()
        return out


def simulate_scale(
    n_cells: int,
    *,
    n_genes: int = 2_000,
    n_peaks: int = 50_000,
    seed: int = 0,
    chunk_cells: int = CHUNK_CELLS,
) -> ScaleData:
    """Simulate ``n_cells`` paired RNA + ATAC cells with ``n_genes`` genes and exactly ``n_peaks`` peaks.

    Parameters
    ----------
    n_cells
        Cells in each modality (the same cells, same order, same barcodes).
    n_genes
        Genes (the demo's minimum applies: named genes plus program genes).
    n_peaks
        Peaks; at least the demo genome's peaks for ``n_genes`` genes (about 2.2 per gene).
    seed
        Seed of every random draw.
    chunk_cells
        Cells simulated at a time (bounds the dense RNA chunk and the ATAC draws).

    Returns
    -------
    A :class:`ScaleData`: RNA (``X`` int32 CSR, ``var["gene_id"]``) and ATAC (``X`` int32 CSR, ``var``
    ``chrom``, ``chromStart``, ``chromEnd``, ``peak_gene``, ``peak_type``), both with ``obs`` ``cell_type``,
    ``condition``, ``batch``; the gene table and the demo's gene sets.
    """
    rng = np.random.default_rng(seed)
    genome = make_genome(n_genes, rng)
    genes = pd.Index(genome.genes["gene_name"])
    programs = synthetic._programs(genes, rng)
    weights = synthetic._driver_weights(genes, rng)
    effects = synthetic._gene_effects(genes, programs)
    cells = synthetic._cells(n_cells, rng)
    base = rng.normal(-0.5, 1.2, len(genes)) + rng.normal(0.0, 0.15, len(genes))
    theta = rng.uniform(2.0, 10.0, len(genes))
    peaks = scale_peaks(genome.peaks, genome.genes, n_peaks, rng)
    atac_sampler = _AtacSampler(peaks, genes, effects, weights, rng)
    types = cells[KEYS.cell_type].cat.codes.to_numpy()
    driver = cells["driver_activity"].to_numpy()
    rna_parts, atac_parts = [], []
    for start in range(0, n_cells, chunk_cells):
        chunk = cells.iloc[start : start + chunk_cells]
        rna_parts.append(_rna_chunk(synthetic._log_programs(chunk, effects, weights), base, theta, rng))
        atac_parts.append(
            atac_sampler.sample(types[start : start + chunk_cells], driver[start : start + chunk_cells], rng)
        )
    obs = cells[[KEYS.cell_type, KEYS.condition]].copy()
    obs[KEYS.batch] = pd.Categorical(["b1"] * n_cells)
    rna = AnnData(
        X=sp.vstack(rna_parts, format="csr", dtype=np.int32), obs=obs, var=genome.genes[["gene_id"]].copy()
    )
    peak_var = peaks[[KEYS.chrom, KEYS.chrom_start, KEYS.chrom_end, "peak_gene", "peak_type"]].copy()
    atac = AnnData(X=sp.vstack(atac_parts, format="csr", dtype=np.int32), obs=obs.copy(), var=peak_var)
    truth = {"programs": {t: sorted(lfc) for t, lfc in programs.items()}, "targets": list(TARGETS)}
    sets, descriptions = synthetic._gene_sets(truth, genes, rng)
    return ScaleData(rna, atac, genome.genes, sets, descriptions)


def write_scale(
    outdir: str | Path, *, n_cells: int, n_genes: int = 2_000, n_peaks: int = 50_000, seed: int = 0
) -> dict[str, Path]:
    """Simulate with :func:`simulate_scale` and write ``rna.h5ad``, ``atac.h5ad`` (uncompressed),
    ``samplesheet.csv`` (samples ``rna`` and ``atac``, absolute paths), ``genes.gtf``, ``genesets.gmt``
    and ``scale.json`` (sizes, non-zeros, seed).

    Returns
    -------
    Name -> path of every file written.
    """
    outdir = Path(outdir).resolve()
    data = simulate_scale(n_cells, n_genes=n_genes, n_peaks=n_peaks, seed=seed)
    written: dict[str, Path] = {}
    for name, adata in ((MODALITY_RNA, data.rna), (MODALITY_ATAC, data.atac)):
        path = outdir / f"{name}.h5ad"
        with atomic_path(path) as tmp:
            adata.write_h5ad(tmp)
        written[name] = path
    sheet = f"sample,modality,file\nrna,{MODALITY_RNA},{written[MODALITY_RNA]}\natac,{MODALITY_ATAC},{written[MODALITY_ATAC]}\n"
    written["samplesheet"] = write_text(sheet, outdir / "samplesheet.csv")
    written["gtf"] = write_text(gtf_text(data.genes, seed=seed), outdir / "genes.gtf")
    written["gmt"] = write_text(gmt_text(data.gene_sets, data.set_descriptions), outdir / "genesets.gmt")
    info = {
        "n_cells": n_cells, "n_genes": data.rna.n_vars, "n_peaks": data.atac.n_vars, "seed": seed,
        "rna_nnz": int(data.rna.X.nnz), "atac_nnz": int(data.atac.X.nnz),
    }  # fmt: skip
    written["info"] = write_json(info, outdir / "scale.json")
    return written
