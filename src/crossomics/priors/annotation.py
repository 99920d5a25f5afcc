"""Gene coordinates from a GTF or BED6 file: one row per gene (chrom, start, end, strand, gene_name, gene_id).

Coordinates are 0-based, half-open (BED convention) whatever the input: GTF starts are shifted by one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.peaks import split_peak_names

log = logging.getLogger("crossomics")

GENE_COLUMNS = ["chrom", "start", "end", "strand", "gene_name", "gene_id"]
_GTF_COLUMNS = ["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attributes"]
_BED_COLUMNS = ["chrom", "start", "end", "gene_name", "score", "strand"]
_GTF_SUFFIXES = (".gtf", ".gff", ".gff3")
_BED_SUFFIXES = (".bed",)


def read_annotation(path: str | Path) -> pd.DataFrame:
    """Read gene coordinates from a GTF/GFF (``gene`` records, or transcripts/exons collapsed) or a BED6 file.

    Parameters
    ----------
    path
        ``*.gtf``, ``*.gff``, ``*.gff3`` or ``*.bed`` file, optionally gzip-compressed (``.gz``).

    Returns
    -------
    One row per gene with columns ``chrom``, ``start`` (0-based), ``end`` (exclusive), ``strand``
    (``+``, ``-`` or ``.``), ``gene_name`` and ``gene_id``.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"annotation file {path} does not exist: pass a GTF or BED6 file with --annotation."
        raise InputError(msg)
    suffix = path.name.lower().removesuffix(".gz")
    if suffix.endswith(_GTF_SUFFIXES):
        genes = _read_gtf(path)
    elif suffix.endswith(_BED_SUFFIXES):
        genes = _read_bed(path)
    else:
        msg = (
            f"annotation file {path}: unknown format; name it *.gtf, *.gff, *.gff3 or *.bed "
            "(optionally .gz) so crossomics knows how to read it."
        )
        raise InputError(msg)
    if genes.empty:
        msg = (
            f"annotation file {path} holds no gene records: check that it is a gene annotation (GTF or BED6)."
        )
        raise InputError(msg)
    log.info("annotation %s: %d genes on %d contigs", path, len(genes), genes["chrom"].nunique())
    return genes


def genes_from_intervals(
    names: Sequence[str], intervals: Sequence[str], *, source: str = "intervals"
) -> pd.DataFrame:
    """Build a gene table from ``chr:start-end`` strings (e.g. the ``interval`` column of a 10x RNA ``var``).

    Strand is unknown (``.``); rows whose interval is missing or unparsable are dropped with a warning.

    Parameters
    ----------
    names
        Gene symbols, one per interval.
    intervals
        Intervals as ``chr:start-end`` (also ``chr_start_end`` or ``chr-start-end``), 0-based starts.
    source
        What the intervals are (used in messages).

    Returns
    -------
    The gene table of :func:`read_annotation`, with ``gene_id`` equal to ``gene_name``.
    """
    names = pd.Index(names).astype(str)
    text = pd.Series(list(intervals), dtype=object).fillna("").astype(str)
    coords, bad = split_peak_names(text)
    ok = coords["chrom"].notna().to_numpy()
    if not ok.any():
        msg = f"{source}: no interval looks like chr:start-end; give gene coordinates as a GTF or BED6 file."
        raise InputError(msg)
    if bad:
        log.warning("%s: %d of %d genes have no usable interval and are left out", source, len(bad), len(ok))
    genes = pd.DataFrame(
        {
            "chrom": coords["chrom"].to_numpy()[ok].astype(str),
            "start": coords["chromStart"].to_numpy()[ok].astype(np.int64),
            "end": coords["chromEnd"].to_numpy()[ok].astype(np.int64),
            "strand": ".",
            "gene_name": names[ok],
            "gene_id": names[ok],
        }
    )
    return genes[GENE_COLUMNS]


def _read_table(path: Path, n_min: int, what: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(
            path, sep="\t", header=None, comment="#", dtype=str, keep_default_na=False, quoting=3
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=range(n_min))
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        msg = f"annotation file {path} cannot be read as a tab-separated {what} file: {err}"
        raise InputError(msg) from None
    if table.shape[1] < n_min:
        msg = (
            f"annotation file {path}: {table.shape[1]} tab-separated columns, a {what} file needs at least "
            f"{n_min}; check the separator (tabs) and the format."
        )
        raise InputError(msg)
    return table


def _coordinates(table: pd.DataFrame, path: Path, first_row_offset: int) -> tuple[np.ndarray, np.ndarray]:
    start = pd.to_numeric(table["start"], errors="coerce")
    end = pd.to_numeric(table["end"], errors="coerce")
    bad = start.isna() | end.isna() | (end < start)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        msg = (
            f"annotation file {path}: data row {row + 1}: start/end {table['start'].iat[row]!r}/"
            f"{table['end'].iat[row]!r} are not integer coordinates with start <= end; fix or remove that "
            "row."
        )
        raise InputError(msg)
    return start.to_numpy(np.int64) - first_row_offset, end.to_numpy(np.int64)


def _read_bed(path: Path) -> pd.DataFrame:
    table = _read_table(path, 6, "BED6")
    table = table.iloc[:, :6].set_axis(_BED_COLUMNS, axis=1)
    table = table[~table["chrom"].str.startswith(("track", "browser"))]
    start, end = _coordinates(table, path, 0)
    genes = pd.DataFrame(
        {
            "chrom": table["chrom"].to_numpy(),
            "start": start,
            "end": end,
            "strand": _strand(table["strand"]),
            "gene_name": table["gene_name"].to_numpy(),
            "gene_id": table["gene_name"].to_numpy(),
        }
    )
    return genes[genes["gene_name"].str.len() > 0].reset_index(drop=True)


def _read_gtf(path: Path) -> pd.DataFrame:
    table = _read_table(path, 9, "GTF")
    table = table.iloc[:, :9].set_axis(_GTF_COLUMNS, axis=1)
    features = table["feature"].str.lower()
    if (features == "gene").any():
        table = table[features == "gene"]
    elif features.isin(["transcript", "mrna", "exon"]).any():
        kept = (
            "transcript"
            if (features == "transcript").any()
            else "mrna"
            if (features == "mrna").any()
            else "exon"
        )
        table = table[features == kept]
        log.info("annotation %s: no gene records; genes collapsed from %d %s records", path, len(table), kept)
    else:
        return pd.DataFrame(columns=GENE_COLUMNS)
    start, end = _coordinates(table, path, 1)
    attrs = table["attributes"]
    gene_id = _attribute(attrs, "gene_id")
    gene_name = _attribute(attrs, "gene_name").fillna(_attribute(attrs, "Name")).fillna(gene_id)
    if gene_name.isna().all():
        msg = (
            f"annotation file {path}: no record carries gene_name or gene_id attributes; use a GTF with gene "
            "attributes."
        )
        raise InputError(msg)
    records = pd.DataFrame(
        {
            "chrom": table["chrom"].to_numpy(),
            "start": start,
            "end": end,
            "strand": _strand(table["strand"]),
            "gene_name": gene_name.to_numpy(),
            "gene_id": gene_id.fillna(gene_name).to_numpy(),
        }
    ).dropna(subset=["gene_name"])
    grouped = records.groupby(["gene_id", "chrom"], sort=False, observed=True)
    genes = grouped.agg(
        start=("start", "min"),
        end=("end", "max"),
        strand=("strand", "first"),
        gene_name=("gene_name", "first"),
    ).reset_index()
    return genes[GENE_COLUMNS]


def _attribute(attrs: pd.Series, key: str) -> pd.Series:
    """Value of ``key`` in GTF (``key "v";``) or GFF3 (``key=v;``) attribute strings, NaN where absent."""
    found = attrs.str.extract(rf'(?:^|;)\s*{key}(?:\s+"([^"]*)"|=([^;]*))', expand=True)
    return found[0].where(found[0].notna(), found[1])


def _strand(values: pd.Series) -> np.ndarray:
    strand = values.to_numpy(dtype=object)
    return np.where(np.isin(strand, ["+", "-"]), strand, ".")
