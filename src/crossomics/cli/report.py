"""``crossomics report``: the MultiQC report over a run's output folder."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError
from ..io.layout import Layout
from . import cli
from ._options import outdir_option, seed_option


@cli.command("report")
@outdir_option
@click.option(
    "--input",
    "input_",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="The run's samplesheet (optional: adds batches, conditions and files to the samples table).",
)
@click.option(
    "--multiqc-config",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="MultiQC settings [default: the repository's assets/multiqc_config.yml].",
)
@seed_option
def report_cmd(outdir: str, input_: str | None, multiqc_config: str | None, seed: int) -> None:
    """Build DIR/multiqc/multiqc_report.html from the outputs of a run under --outdir."""
    from ..report import run_report

    if not Path(outdir).is_dir():
        msg = f"--outdir {outdir}: no such folder; pass the output folder of a crossomics run."
        raise InputError(msg)
    path = run_report(Layout(outdir), samplesheet=input_, seed=seed, config=multiqc_config)
    click.echo(f"report: {path}")
