"""Gene activity of ATAC cells: peak counts summed over each gene's body and promoter (one sparse product).

A peak counts for a gene when it overlaps the gene body extended by ``upstream`` bp before the TSS and
``downstream`` bp after the TES (strand-aware; genes without strand are extended by the larger of the
two on both sides). With ``weighting="distance"`` a peak whose centre lies more than ``upstream`` bp from
the TSS counts ``exp(-(distance - upstream) / decay)`` instead of 1, so distal peaks count less than
promoter peaks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS
from ..errors import InputError
from ._intervals import contig_key, overlap_pairs
from ._matrix import raw_counts

log = logging.getLogger("crossomics")

Weighting = Literal["uniform", "distance"]


def gene_regions(genes: pd.DataFrame, *, upstream: int = 2000, downstream: int = 0) -> pd.DataFrame:
    """Region of each gene (chrom, start, end, tss): body, ``upstream`` before TSS, ``downstream`` after."""
    if upstream < 0 or downstream < 0:
        msg = f"--upstream {upstream} / --downstream {downstream}: distances must be >= 0."
        raise InputError(msg)
    start = genes["start"].to_numpy(np.int64)
    end = genes["end"].to_numpy(np.int64)
    strand = genes["strand"].to_numpy(dtype=object)
    minus = strand == "-"
    unknown = ~np.isin(strand, ["+", "-"])
    before = np.where(minus, downstream, upstream)
    after = np.where(minus, upstream, downstream)
    both = max(upstream, downstream)
    before = np.where(unknown, both, before)
    after = np.where(unknown, both, after)
    tss = np.where(minus, end, np.where(unknown, (start + end) // 2, start))
    return pd.DataFrame(
        {
            "chrom": genes["chrom"].to_numpy(),
            "start": np.maximum(start - before, 0),
            "end": end + after,
            "tss": tss,
        }
    )


def peak_gene_matrix(
    peaks: pd.DataFrame,
    regions: pd.DataFrame,
    columns: np.ndarray,
    n_columns: int,
    *,
    weighting: Weighting = "uniform",
    promoter: int = 2000,
    decay: float = 5000.0,
) -> sp.csr_matrix:
    """Peaks x genes overlap weights (CSR float32); ``columns[i]`` is the output column of region ``i``.

    Several regions may share a column (one symbol at two loci); a peak then counts once, at its largest
    weight.
    """
    p_idx, r_idx = overlap_pairs(
        peaks["chrom"].to_numpy(),
        peaks["chromStart"].to_numpy(),
        peaks["chromEnd"].to_numpy(),
        regions["chrom"].to_numpy(),
        regions["start"].to_numpy(),
        regions["end"].to_numpy(),
    )
    weight = np.ones(len(p_idx), dtype=np.float32)
    if weighting == "distance":
        centre = (
            peaks["chromStart"].to_numpy(np.int64)[p_idx] + peaks["chromEnd"].to_numpy(np.int64)[p_idx]
        ) // 2
        distance = np.abs(centre - regions["tss"].to_numpy(np.int64)[r_idx])
        weight = np.exp(-np.maximum(distance - promoter, 0) / decay).astype(np.float32)
    elif weighting != "uniform":
        msg = f"weighting {weighting!r} is not one of 'uniform', 'distance'."
        raise InputError(msg)
    cols = columns[r_idx]
    key = p_idx * n_columns + cols
    order = np.lexsort((-weight, key))
    new_key = np.ones(len(order), dtype=bool)
    new_key[1:] = key[order][1:] != key[order][:-1]
    first = order[new_key]
    return sp.csr_matrix(
        (weight[first], (p_idx[first], cols[first])), shape=(len(peaks), n_columns), dtype=np.float32
    )


def match_genes(
    genes: pd.DataFrame,
    wanted: Sequence[str] | None,
    *,
    case_insensitive: bool = False,
    annotation: str = "the annotation",
    wanted_source: str = "the gene list",
) -> tuple[pd.DataFrame, pd.Index, np.ndarray]:
    """The annotation rows of output genes (index reset), the output gene names and each row's output column.

    Without ``wanted`` every annotation symbol is an output gene. With ``wanted`` (e.g. RNA ``var_names``)
    the output genes are those symbols found in the annotation, spelled as in ``wanted``; rows of other
    symbols are dropped.
    """
    genes = genes.reset_index(drop=True)
    symbols = genes["gene_name"].astype(str).to_numpy()
    if wanted is None:
        names = pd.Index(pd.unique(symbols))
        return genes, names, names.get_indexer(symbols)
    wanted = pd.Index(pd.unique(np.asarray(wanted, dtype=str)))
    fold = (lambda a: np.char.upper(np.asarray(a, dtype=str))) if case_insensitive else np.asarray
    key_to_wanted = pd.Series(np.arange(len(wanted)), index=fold(wanted))
    key_to_wanted = key_to_wanted[~key_to_wanted.index.duplicated()]
    hit = key_to_wanted.reindex(fold(symbols)).to_numpy()
    present = np.zeros(len(wanted), dtype=bool)
    present[hit[~np.isnan(hit)].astype(np.int64)] = True
    missing = wanted[~present]
    if present.sum() == 0:
        msg = (
            f"none of the {len(wanted)} genes of {wanted_source} (e.g. {', '.join(wanted[:3])}) is in "
            f"{annotation} (e.g. {', '.join(symbols[:3])}): use an annotation with the same gene symbols and "
            "genome build"
            + ("" if case_insensitive else ", or --case-insensitive if only the letter case differs")
            + "."
        )
        raise InputError(msg)
    if len(missing):
        log.warning(
            "%d of %d genes of %s are absent from %s (e.g. %s): they get no gene activity%s",
            len(missing),
            len(wanted),
            wanted_source,
            annotation,
            ", ".join(missing[:5]),
            "" if case_insensitive else "; try --case-insensitive if the letter case differs",
        )
    names = wanted[present]
    log.info("%d of %d genes of %s found in %s", len(names), len(wanted), wanted_source, annotation)
    position = pd.Series(np.arange(len(names)), index=np.flatnonzero(present))
    columns = np.full(len(symbols), -1, dtype=np.int64)
    found = ~np.isnan(hit)
    columns[found] = position.reindex(hit[found].astype(np.int64)).to_numpy()
    keep = columns >= 0
    return genes[keep].reset_index(drop=True), names, columns[keep]


def gene_activity(
    adata: AnnData,
    genes: pd.DataFrame,
    *,
    upstream: int = 2000,
    downstream: int = 0,
    weighting: Weighting = "uniform",
    decay: float = 5000.0,
    gene_names: Sequence[str] | None = None,
    case_insensitive: bool = False,
    annotation: str = "the annotation",
    source: str = "the ATAC data",
    gene_names_source: str = "the gene list",
) -> AnnData:
    """Sum ATAC peak counts into genes: ``counts (cells x peaks) @ overlap (peaks x genes)``.

    Parameters
    ----------
    adata
        ATAC cells x peaks; raw counts in ``layers["counts"]`` if present, else ``X``. Peak coordinates
        from ``var[chrom, chromStart, chromEnd]`` or parsed from ``var_names`` (``chr:s-e``, ``chr_s_e``,
        ``chr-s-e``).
    genes
        Gene table from :func:`crossomics.priors.annotation.read_annotation`.
    upstream, downstream
        Base pairs added before the TSS and after the TES.
    weighting, decay
        ``"uniform"`` (each overlapping peak counts 1) or ``"distance"`` (see the module docstring).
    gene_names
        Restrict the output to these genes (e.g. the RNA ``var_names``), spelled as given.
    case_insensitive
        Match ``gene_names`` to annotation symbols ignoring letter case.
    annotation, source, gene_names_source
        Names of the annotation, the ATAC input and the source of ``gene_names``, used in messages.

    Returns
    -------
    A new AnnData, cells x genes: ``X`` gene activity counts (CSR float32); ``obs`` copied from ``adata``;
    ``var[chrom, start, end, strand, gene_id, n_peaks]``; ``uns["crossomics_gene_activity"]`` with the
    parameters and how many peaks and genes were matched.
    """
    peaks = peak_table(adata, source=source)
    genes, names, columns = match_genes(
        genes,
        gene_names,
        case_insensitive=case_insensitive,
        annotation=annotation,
        wanted_source=gene_names_source,
    )
    _warn_contigs(peaks["chrom"].to_numpy(), genes["chrom"].to_numpy(), source=source, annotation=annotation)
    regions = gene_regions(genes, upstream=upstream, downstream=downstream)
    overlap = peak_gene_matrix(
        peaks, regions, columns, len(names), weighting=weighting, promoter=upstream, decay=decay
    )
    n_peaks_matched = int((overlap.getnnz(axis=1) > 0).sum())
    if n_peaks_matched == 0:
        msg = (
            f"no peak of {source} overlaps a gene of {annotation} (gene body + {upstream} bp upstream): "
            "check that both use the same genome build, or raise --upstream/--downstream."
        )
        raise InputError(msg)
    n_per_gene = overlap.getnnz(axis=0)
    counts = raw_counts(adata)
    x = sp.csr_matrix(counts @ overlap, dtype=np.float32)
    first = pd.Series(np.arange(len(columns))).groupby(columns).first()
    var = genes.loc[first.to_numpy(), ["chrom", "start", "end", "strand", "gene_id"]].set_index(names)
    var["n_peaks"] = n_per_gene
    stats = {
        "annotation": annotation,
        "upstream": upstream,
        "downstream": downstream,
        "weighting": weighting,
        "decay": decay,
        "n_peaks": len(peaks),
        "n_peaks_matched": n_peaks_matched,
        "n_genes": len(names),
        "n_genes_with_peak": int((n_per_gene > 0).sum()),
        "n_genes_requested": -1 if gene_names is None else len(pd.unique(np.asarray(gene_names, dtype=str))),
        "case_insensitive": case_insensitive,
    }
    log.info(
        "gene activity: %d of %d peaks in a gene region; %d of %d genes have >= 1 peak",
        n_peaks_matched,
        len(peaks),
        stats["n_genes_with_peak"],
        len(names),
    )
    return AnnData(X=x, obs=adata.obs.copy(), var=var, uns={KEYS.gene_activity: stats})


def peak_table(adata: AnnData, *, source: str = "the ATAC data") -> pd.DataFrame:
    """Peak coordinates (chrom, chromStart, chromEnd) from ``var`` columns, else parsed from ``var_names``."""
    cols = [KEYS.chrom, KEYS.chrom_start, KEYS.chrom_end]
    if all(c in adata.var for c in cols):
        peaks = adata.var[cols].copy()
        peaks.columns = ["chrom", "chromStart", "chromEnd"]
        return peaks.astype({"chrom": str, "chromStart": np.int64, "chromEnd": np.int64}).reset_index(
            drop=True
        )
    from ..io.peaks import parse_peak_names

    try:
        return parse_peak_names(list(adata.var_names)).reset_index(drop=True)
    except InputError as err:
        msg = (
            f"{source}: peak names are not coordinates ({err}); name peaks chr:start-end or add "
            "var[chrom, chromStart, chromEnd]."
        )
        raise InputError(msg) from None


def _warn_contigs(peak_chrom: np.ndarray, gene_chrom: np.ndarray, *, source: str, annotation: str) -> None:
    absent = ~np.isin(contig_key(peak_chrom), np.unique(contig_key(gene_chrom)))
    if absent.any():
        examples = ", ".join(pd.unique(peak_chrom[absent])[:5])
        log.warning(
            "%d of %d peaks of %s lie on contigs absent from %s (%s): they get no gene; if that is many, use "
            "an annotation of the same genome build and contig naming",
            absent.sum(),
            len(peak_chrom),
            source,
            annotation,
            examples,
        )
