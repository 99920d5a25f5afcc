"""``crossomics simulate-demo``: write the demo data set, its samplesheet, GTF, gene sets and ground truth."""

from __future__ import annotations

import click

from ..datasets.synthetic import write_demo
from . import cli
from ._options import seed_option


@cli.command("simulate-demo")
@click.option("--outdir", required=True, type=click.Path(file_okay=False), help="Folder for the demo files.")
@seed_option
@click.option(
    "--n-cells", type=click.IntRange(min=100), default=1200, show_default=True, help="Cells in all samples."
)
def simulate_demo(outdir: str, seed: int, n_cells: int) -> None:
    """Simulate a small paired-and-unpaired RNA/ATAC/ADT demo with a known driver -> targets -> peaks link."""
    written = write_demo(outdir, n_cells=n_cells, seed=seed)
    click.echo(
        f"demo written to {outdir}: samplesheet {written['samplesheet']}, ground truth {written['truth']}"
    )
