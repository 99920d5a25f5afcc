"""``crossomics qc`` and ``crossomics preprocess``: per-sample QC, then normalisation and reduction."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError, join_problems
from ..io._matrix_checks import matrix_problems
from ..io.layout import Layout
from ..io.read import read_matrix
from ..io.samplesheet import SampleRow
from ..pp.features import run_preprocess
from ..pp.qc import QCThresholds, run_qc, tss_table
from . import cli
from ._options import outdir_option, seed_option


def _read_checked(path: str, sample: str, modality: str, mudata_key: str | None = None):
    """Read one sample's matrix and refuse what is never valid (NaN/inf, duplicate names, a single feature,
    ATAC names that are not peaks). Whether values are counts is checked by ``validate`` (per-row
    ``allow_non_counts``), not here."""
    adata = read_matrix(path, modality=modality, mudata_key=mudata_key)
    row = SampleRow(sample, modality, Path(path), mudata_key=mudata_key, allow_non_counts=True)
    problems = matrix_problems(adata, row)
    if len(problems) == 1:
        raise InputError(f"{path}: {problems[0]}")
    if problems:
        raise InputError(join_problems(problems, f"{path} has {len(problems)} problems:"))
    return adata


_input = click.option(
    "--input", "input_", required=True, type=click.Path(), help="Count matrix of one sample."
)
_sample = click.option("--sample", required=True, help="Sample id (names the output files).")
_modality = click.option(
    "--modality", required=True, help="rna, atac, adt, or another (generic count) modality."
)


@cli.command("qc")
@_input
@_sample
@_modality
@outdir_option
@click.option("--mudata-key", default=None, help="Modality to read from an .h5mu file (default: --modality).")
@click.option(
    "--annotation", type=click.Path(), default=None, help="GTF/BED6 genes: adds the ATAC promoter fraction."
)
@click.option("--min-counts", type=int, default=None, help="Fewest counts per cell [default: per modality].")
@click.option(
    "--min-features",
    type=int,
    default=None,
    help="Fewest detected features per cell [default: per modality].",
)
@click.option(
    "--max-pct-mito", type=float, default=None, help="Largest mitochondrial percentage (RNA) [default: 20]."
)
@click.option(
    "--max-counts-quantile",
    type=click.FloatRange(0, 1),
    default=None,
    help="Drop cells above this count quantile.",
)
@click.option(
    "--min-cells-per-feature", type=int, default=None, help="Fewest cells a kept feature is seen in."
)
def qc(
    input_: str,
    sample: str,
    modality: str,
    outdir: str,
    mudata_key: str | None,
    annotation: str | None,
    min_counts: int | None,
    min_features: int | None,
    max_pct_mito: float | None,
    max_counts_quantile: float | None,
    min_cells_per_feature: int | None,
) -> None:
    """Filter one sample's cells and features; write qc/<sample>.qc.h5ad and qc/<sample>.qc.json."""
    modality = modality.lower()
    adata = _read_checked(input_, sample, modality, mudata_key)
    thresholds = QCThresholds.defaults(modality).updated(
        min_counts=min_counts,
        min_features=min_features,
        max_pct_mito=max_pct_mito,
        max_counts_quantile=max_counts_quantile,
        min_cells_per_feature=min_cells_per_feature,
    )
    tss = None
    if annotation is not None:
        from ..priors.annotation import read_annotation

        tss = tss_table(read_annotation(annotation))
    try:
        s = run_qc(adata, sample, modality, Layout(outdir), thresholds, annotation_tss=tss)
    except InputError as err:
        msg = f"{input_}: {err}"
        raise InputError(msg) from None
    click.echo(
        f"qc {sample}: kept {s['cells_out']}/{s['cells_in']} cells, "
        f"{s['features_out']}/{s['features_in']} features "
        f"(median counts {s['median_n_counts_after']:g})"
    )


@cli.command("preprocess")
@_input
@_sample
@_modality
@outdir_option
@click.option(
    "--n-comps", type=click.IntRange(min=1), default=50, show_default=True, help="PCA/LSI components."
)
@click.option(
    "--n-top-features",
    type=click.IntRange(min=1),
    default=None,
    help="HVGs (RNA, default 2000) or most frequent peaks kept (ATAC, default all frequent peaks).",
)
@seed_option
def preprocess(
    input_: str, sample: str, modality: str, outdir: str, n_comps: int, n_top_features: int | None, seed: int
) -> None:
    """Normalise, select features and reduce one QC'ed sample; write preprocess/<sample>.h5ad."""
    modality = modality.lower()
    adata = _read_checked(input_, sample, modality)
    s = run_preprocess(
        adata, sample, modality, Layout(outdir), n_comps=n_comps, n_top_features=n_top_features, seed=seed
    )
    click.echo(
        f"preprocess {sample}: {s['n_cells']} cells, {s['n_features_used']}/{s['n_features']} features used, "
        f"{s['norm']} -> {s['n_comps']} components"
    )
