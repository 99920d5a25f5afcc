"""Check a samplesheet and every file it names before any work starts; report all problems at once."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .._keys import MODALITY_ATAC, MODALITY_RNA
from ..errors import InputError, join_problems
from ._matrix_checks import N_EXAMPLES, matrix_problems
from .peaks import split_peak_names
from .read import read_matrix
from .samplesheet import SampleRow, check_samplesheet

log = logging.getLogger("crossomics")

DEFAULT_MIN_ANNOTATED = 0.5
FIX_ANNOTATION = "Fix: pass the annotation of the data's species and genome build, or check the file's names"


@dataclass(frozen=True)
class SampleSummary:
    """A validated sample: its samplesheet row and the matrix size."""

    row: SampleRow
    n_cells: int
    n_features: int


def validate_samplesheet(
    path: str | os.PathLike,
    annotation: str | os.PathLike | None = None,
    *,
    min_annotated: float = DEFAULT_MIN_ANNOTATED,
) -> list[SampleRow]:
    """Check the samplesheet and every sample file; see :func:`inspect_samplesheet`.

    Returns
    -------
    The samplesheet rows, file paths absolute.
    """
    return [s.row for s in inspect_samplesheet(path, annotation, min_annotated=min_annotated)]


def inspect_samplesheet(
    path: str | os.PathLike,
    annotation: str | os.PathLike | None = None,
    *,
    min_annotated: float = DEFAULT_MIN_ANNOTATED,
) -> list[SampleSummary]:
    """Check the samplesheet and read every sample file, collecting all problems.

    Parameters
    ----------
    path
        The samplesheet.
    annotation
        GTF or BED6 gene annotation. With it, RNA gene names and ATAC peak contigs are compared with it.
    min_annotated
        Least fraction of an RNA sample's gene names found in the annotation, and of an ATAC sample's peaks
        on the annotation's contigs (fewer peaks on unknown contigs give a warning).

    Returns
    -------
    One summary (row, cells, features) per sample.

    Raises
    ------
    InputError
        Listing every problem found, each naming the samplesheet row, the column and the file.
    """
    check = check_samplesheet(path)
    problems = list(check.problems)
    genes = None
    if annotation is not None:
        # imported on use: the io layer must not need the priors package to read or check a samplesheet
        from ..priors.annotation import read_annotation

        try:
            genes = read_annotation(annotation)
        except InputError as err:
            problems.append(f"--annotation: {err}")
    summaries = []
    for row in check.rows:
        where = f"{check.path} row {row.row} (sample '{row.sample}'), column 'file' ({row.file})"
        try:
            adata = read_matrix(row.file, modality=row.modality, mudata_key=row.mudata_key)
        except InputError as err:
            problems.append(f"{where}: {err}")
            continue
        found = matrix_problems(adata, row)
        if genes is not None and not found:
            found = annotation_problems(adata, row, genes, Path(annotation), min_annotated=min_annotated)
        problems += [f"{where}: {p}" for p in found]
        summaries.append(SampleSummary(row, adata.n_obs, adata.n_vars))
    if problems:
        noun = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise InputError(join_problems(problems, f"samplesheet {check.path}: {noun} (nothing was run):"))
    return summaries


def annotation_problems(
    adata: ad.AnnData, row: SampleRow, genes: pd.DataFrame, annotation: Path, *, min_annotated: float
) -> list[str]:
    """RNA: too few gene names in the annotation. ATAC: too many peaks on contigs it does not have."""
    if row.modality == MODALITY_RNA:
        return _gene_name_problems(adata.var_names, genes["gene_name"], annotation, min_annotated)
    if row.modality == MODALITY_ATAC:
        coords, _ = split_peak_names(adata.var_names)
        return _contig_problems(row, coords["chrom"], genes["chrom"], annotation, min_annotated)
    return []


def format_summary(summaries: list[SampleSummary]) -> str:
    """A fixed-width table: sample, modality, cells, features, file."""
    table = pd.DataFrame(
        {
            "sample": [s.row.sample for s in summaries],
            "modality": [s.row.modality for s in summaries],
            "cells": [f"{s.n_cells:,}" for s in summaries],
            "features": [f"{s.n_features:,}" for s in summaries],
            "file": [str(s.row.file) for s in summaries],
        }
    )
    return table.to_string(index=False)


def _gene_name_problems(
    names: pd.Index, known: pd.Series, annotation: Path, min_annotated: float
) -> list[str]:
    found = np.asarray(names.isin(known))
    if found.mean() >= min_annotated:
        return []
    missing = ", ".join(repr(n) for n in names[~found][:N_EXAMPLES])
    by_case = np.asarray(names.str.lower().isin(known.str.lower())).mean()
    hint = ""
    if by_case >= min_annotated:
        hint = (
            f" Ignoring case, {by_case:.0%} match: the data and the annotation may be different species "
            "(human symbols are upper case, mouse symbols capitalised), or the names' case was changed."
        )
    return [
        f"only {found.mean():.1%} ({found.sum():,} of {len(names):,}) of the gene names are in annotation "
        f"{annotation} (below --min-annotated {min_annotated:g}; missing e.g. {missing}).{hint} "
        f"{FIX_ANNOTATION}."
    ]


def _contig_problems(
    row: SampleRow, chrom: pd.Series, known: pd.Series, annotation: Path, min_annotated: float
) -> list[str]:
    """Contigs compare without a leading ``chr`` (``chr1`` and ``1`` are the same), as the priors do."""
    known_keys = set(known.astype(str).str.removeprefix("chr"))
    unknown = ~chrom.astype(str).str.removeprefix("chr").isin(known_keys).to_numpy()
    if not unknown.any():
        return []
    contigs = ", ".join(repr(c) for c in pd.unique(chrom[unknown])[:N_EXAMPLES])
    text = (
        f"{unknown.sum():,} of {len(chrom):,} peaks ({unknown.mean():.1%}) lie on contigs absent from "
        f"annotation {annotation} (e.g. {contigs})"
    )
    if 1 - unknown.mean() < min_annotated:
        return [f"{text}, more than --min-annotated {min_annotated:g} allows. {FIX_ANNOTATION}."]
    log.warning("sample '%s': %s; they get no gene links.", row.sample, text)
    return []
