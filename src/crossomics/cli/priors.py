"""``crossomics gene-activity``, ``crossomics gene-sets`` and ``crossomics anchors``: the training priors."""

from __future__ import annotations

import click

from ..priors.steps import MIN_SCORE, mnn_summary, run_anchors, run_gene_activity, run_gene_sets
from . import cli
from ._options import outdir_option, seed_option

_sample = click.option("--sample", required=True, help="Sample id (names the output file).")


@cli.command("gene-activity")
@click.option(
    "--input",
    "input_",
    required=True,
    type=click.Path(),
    help="ATAC h5ad (QC'd or preprocessed; raw counts from layers['counts'] if present, else X).",
)
@_sample
@click.option(
    "--annotation",
    required=True,
    type=click.Path(),
    help="Gene annotation: GTF/GFF (gene or transcript/exon records) or BED6, optionally .gz.",
)
@outdir_option
@click.option(
    "--fragments",
    type=click.Path(),
    default=None,
    help="10x fragments.tsv.gz: count fragments per gene instead of summing peaks.",
)
@click.option(
    "--upstream",
    type=click.IntRange(min=0),
    default=2000,
    show_default=True,
    help="Base pairs added before each TSS (strand-aware).",
)
@click.option(
    "--downstream",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Base pairs added after each gene end.",
)
@click.option(
    "--weighting",
    type=click.Choice(["uniform", "distance"]),
    default="uniform",
    show_default=True,
    help="uniform: each overlapping peak counts 1; distance: a peak d bp beyond --upstream from the TSS "
    "counts exp(-d/--decay).",
)
@click.option(
    "--decay",
    type=click.FloatRange(min=1),
    default=5000.0,
    show_default=True,
    help="Distance scale (bp) of --weighting distance.",
)
@click.option(
    "--rna",
    type=click.Path(),
    default=None,
    help="RNA file: keep its genes (spelled as there) and report how many were matched.",
)
@click.option(
    "--case-insensitive", is_flag=True, help="Match --rna genes to annotation symbols ignoring letter case."
)
def gene_activity(
    input_: str,
    sample: str,
    annotation: str,
    outdir: str,
    fragments: str | None,
    upstream: int,
    downstream: int,
    weighting: str,
    decay: float,
    rna: str | None,
    case_insensitive: bool,
) -> None:
    """ATAC peaks (or fragments) to genes; write priors/<sample>.gene_activity.h5ad."""
    path = run_gene_activity(
        input_,
        sample=sample,
        annotation=annotation,
        outdir=outdir,
        fragments=fragments,
        upstream=upstream,
        downstream=downstream,
        weighting=weighting,
        decay=decay,
        rna=rna,
        case_insensitive=case_insensitive,
    )
    click.echo(f"gene-activity {sample}: {path}")


@cli.command("gene-sets")
@click.option(
    "--input", "input_", required=True, type=click.Path(), help="RNA counts, or an ATAC gene-activity h5ad."
)
@_sample
@click.option(
    "--gmt", required=True, multiple=True, type=click.Path(), help="GMT gene-set file (repeat for several)."
)
@outdir_option
@click.option(
    "--min-genes",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Skip sets with fewer genes present in the data.",
)
@click.option(
    "--max-genes",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Skip sets with more genes present in the data.",
)
@click.option(
    "--case-sensitive",
    is_flag=True,
    help="Match gene symbols exactly (default: ignore letter case, so upper-case mouse GMTs match).",
)
def gene_sets(
    input_: str,
    sample: str,
    gmt: tuple[str, ...],
    outdir: str,
    min_genes: int,
    max_genes: int,
    case_sensitive: bool,
) -> None:
    """Score every cell for every gene set; write priors/<sample>.genesets.h5ad."""
    path = run_gene_sets(
        input_,
        sample=sample,
        gmt=list(gmt),
        outdir=outdir,
        min_genes=min_genes,
        max_genes=max_genes,
        case_insensitive=not case_sensitive,
    )
    click.echo(f"gene-sets {sample}: {path}")


@cli.command("anchors")
@click.option(
    "--input-a", required=True, type=click.Path(), help="First sample (h5ad; raw counts, or preprocessed)."
)
@click.option("--sample-a", required=True, help="Id of the first sample.")
@click.option("--modality-a", required=True, help="Modality of the first sample: rna, atac, adt or another.")
@click.option("--input-b", required=True, type=click.Path(), help="Second sample.")
@click.option("--sample-b", required=True, help="Id of the second sample.")
@click.option("--modality-b", required=True, help="Modality of the second sample.")
@outdir_option
@click.option(
    "--features-a",
    type=click.Path(),
    default=None,
    help="Gene-level features of sample A's cells (ATAC: its gene activity).",
)
@click.option(
    "--features-b",
    type=click.Path(),
    default=None,
    help="Gene-level features of sample B's cells (ATAC: its gene activity).",
)
@click.option(
    "--mapping",
    type=click.Path(),
    default=None,
    help="TSV with a header, then feature<TAB>genes rows (default for ADT: the shipped antibody table).",
)
@click.option(
    "--k",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Neighbours in the mutual-nearest-neighbour test.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=MIN_SCORE,
    show_default=True,
    help="Least neighbourhood-consistency score of a flagged anchor (the table keeps every MNN pair).",
)
@click.option(
    "--case-sensitive", is_flag=True, help="Match feature names exactly (default: ignore letter case)."
)
@seed_option
def anchors(
    input_a: str,
    sample_a: str,
    modality_a: str,
    input_b: str,
    sample_b: str,
    modality_b: str,
    outdir: str,
    features_a: str | None,
    features_b: str | None,
    mapping: str | None,
    k: int,
    min_score: float,
    case_sensitive: bool,
    seed: int,
) -> None:
    """MNN anchors between two samples; write priors/anchors_<a>__<b>.tsv and metrics/anchors.json."""
    found = run_anchors(
        input_a,
        input_b,
        sample_a=sample_a,
        sample_b=sample_b,
        modality_a=modality_a.lower(),
        modality_b=modality_b.lower(),
        outdir=outdir,
        features_a=features_a,
        features_b=features_b,
        mapping=mapping,
        k=k,
        min_score=min_score,
        case_insensitive=not case_sensitive,
        seed=seed,
    )
    click.echo(mnn_summary({f"{sample_a}-{sample_b}": found}, min_score))
