"""``crossomics validate``: check the samplesheet and every file before any work starts."""

from __future__ import annotations

import click

from ..io.samplesheet import write_samplesheet
from ..io.validate import DEFAULT_MIN_ANNOTATED, format_summary, inspect_samplesheet
from . import cli


@cli.command("validate")
@click.option("--input", "input_", required=True, type=click.Path(), help="Samplesheet CSV.")
@click.option(
    "--annotation",
    type=click.Path(),
    default=None,
    help="GTF or BED6 gene annotation to check names against.",
)
@click.option(
    "--min-annotated",
    type=click.FloatRange(0, 1),
    default=DEFAULT_MIN_ANNOTATED,
    show_default=True,
    help="Least fraction of RNA gene names in the annotation, and of ATAC peaks on its contigs.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the validated samplesheet here (absolute paths).",
)
def validate(input_: str, annotation: str | None, min_annotated: float, out: str | None) -> None:
    """Check the samplesheet and every sample file; report all problems at once (exit code 2)."""
    summaries = inspect_samplesheet(input_, annotation, min_annotated=min_annotated)
    click.echo(format_summary(summaries))
    if out is not None:
        write_samplesheet([s.row for s in summaries], out)
        click.echo(f"validated samplesheet written to {out}")
