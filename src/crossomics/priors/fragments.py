"""Gene activity straight from a 10x ATAC fragments file (``fragments.tsv.gz``): fragments per cell and gene.

The bgzip file is read start to end in chunks with pandas (bgzip is valid multi-member gzip), so the tabix
index is not needed; only fragments of the requested barcodes are kept. A fragment counts once for each
gene region (body + ``upstream``/``downstream``, as in :mod:`crossomics.priors.gene_activity`) it overlaps.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS
from ..errors import InputError
from ._intervals import overlap_pairs
from .gene_activity import gene_regions, match_genes

log = logging.getLogger("crossomics")

_COLUMNS = ["chrom", "start", "end", "barcode"]


def fragment_gene_activity(
    fragments: str | Path,
    barcodes: Sequence[str],
    genes: pd.DataFrame,
    *,
    upstream: int = 2000,
    downstream: int = 0,
    gene_names: Sequence[str] | None = None,
    case_insensitive: bool = False,
    annotation: str = "the annotation",
    gene_names_source: str = "the gene list",
    chunksize: int = 2_000_000,
) -> AnnData:
    """Count fragments per (cell, gene) from a fragments file.

    Parameters
    ----------
    fragments
        Tab-separated ``chrom, start, end, barcode[, count]`` (``.tsv`` or bgzip/gzip ``.tsv.gz``); ``#``
        lines are skipped.
    barcodes
        The cells, in output order (e.g. the ATAC ``obs_names``); other barcodes are ignored.
    genes
        Gene table from :func:`crossomics.priors.annotation.read_annotation` (or ``genes_from_intervals``).
    upstream, downstream, gene_names, case_insensitive
        As in :func:`crossomics.priors.gene_activity.gene_activity`.
    annotation, gene_names_source
        Names used in messages.
    chunksize
        Fragments read at a time.

    Returns
    -------
    A new AnnData, cells x genes: ``X`` fragment counts (CSR float32); ``obs_names`` = ``barcodes``;
    ``var[chrom, start, end, strand, gene_id]``; ``uns["crossomics_gene_activity"]`` with the number of
    fragments read, kept (of these cells) and in a gene region.
    """
    path = Path(fragments)
    if not path.is_file():
        msg = f"fragments file {path} does not exist: pass a 10x fragments.tsv.gz with --fragments."
        raise InputError(msg)
    cells = pd.Index(np.asarray(barcodes, dtype=str))
    genes, names, columns = match_genes(
        genes,
        gene_names,
        case_insensitive=case_insensitive,
        annotation=annotation,
        wanted_source=gene_names_source,
    )
    regions = gene_regions(genes, upstream=upstream, downstream=downstream)
    rows, cols = [], []
    n_read = n_cells_fragments = n_in_genes = 0
    for chunk in _chunks(path, chunksize):
        n_read += len(chunk)
        cell = pd.Categorical(chunk["barcode"], categories=cells).codes
        chunk = chunk[cell >= 0]
        cell = cell[cell >= 0]
        n_cells_fragments += len(chunk)
        if chunk.empty:
            continue
        f_idx, r_idx = overlap_pairs(
            chunk["chrom"].to_numpy(),
            chunk["start"].to_numpy(),
            chunk["end"].to_numpy(),
            regions["chrom"].to_numpy(),
            regions["start"].to_numpy(),
            regions["end"].to_numpy(),
        )
        pair = np.unique(f_idx * len(names) + columns[r_idx])  # a fragment counts once per gene
        f_idx, g_idx = np.divmod(pair, len(names))
        n_in_genes += len(np.unique(f_idx))
        rows.append(cell[f_idx].astype(np.int64))
        cols.append(g_idx)
    if n_cells_fragments == 0:
        example = _first_barcode(path)
        msg = (
            f"fragments file {path}: none of its {n_read} fragments belongs to the {len(cells)} cells of the "
            f"ATAC input (file barcodes look like {example!r}, cells like {cells[0]!r}); use the fragments "
            "file of the same run, with barcodes spelled as the ATAC obs_names (suffix such as -1, sample "
            "prefix)."
        )
        raise InputError(msg)
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    x = sp.csr_matrix(
        (np.ones(len(row), dtype=np.float32), (row, col)), shape=(len(cells), len(names)), dtype=np.float32
    )
    stats = {
        "annotation": annotation,
        "fragments": str(path),
        "upstream": upstream,
        "downstream": downstream,
        "weighting": "uniform",
        "n_fragments_read": n_read,
        "n_fragments_cells": n_cells_fragments,
        "n_fragments_in_genes": n_in_genes,
        "n_cells_without_fragments": int((np.bincount(row, minlength=len(cells)) == 0).sum()),
        "n_genes": len(names),
        "n_genes_with_fragments": int((x.getnnz(axis=0) > 0).sum()),
        "case_insensitive": case_insensitive,
    }
    log.info(
        "fragments %s: %d fragments read, %d of these cells, %d in a gene region",
        path,
        n_read,
        n_cells_fragments,
        n_in_genes,
    )
    first = pd.Series(np.arange(len(columns))).groupby(columns).first()
    var = genes.loc[first.to_numpy(), ["chrom", "start", "end", "strand", "gene_id"]].set_index(names)
    return AnnData(X=x, obs=pd.DataFrame(index=cells), var=var, uns={KEYS.gene_activity: stats})


def _chunks(path: Path, chunksize: int) -> Iterator[pd.DataFrame]:
    try:
        yield from pd.read_csv(
            path,
            sep="\t",
            header=None,
            comment="#",
            usecols=range(4),
            names=_COLUMNS,
            dtype={"chrom": str, "start": np.int64, "end": np.int64, "barcode": str},
            chunksize=chunksize,
        )
    except (ValueError, pd.errors.ParserError, OSError, EOFError, zlib.error) as err:
        msg = (
            f"fragments file {path} cannot be read as tab-separated chrom, start, end, barcode ({err}); "
            "pass a 10x fragments.tsv.gz."
        )
        raise InputError(msg) from None


def _first_barcode(path: Path) -> str:
    """The barcode of the first fragment in ``path`` (for messages)."""
    first = next(_chunks(path, 1), None)
    return "" if first is None or first.empty else str(first["barcode"].iat[0])
