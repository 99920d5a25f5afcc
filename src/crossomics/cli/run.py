"""``crossomics run``: the embedded single-machine runner."""

from __future__ import annotations

from pathlib import Path

import click

from ..runner import SKIPPABLE
from . import cli
from ._options import backed_option, device_option, outdir_option, seed_option, threads_option


@cli.command("run")
@click.option("--input", "input_", required=True, type=click.Path(dir_okay=False), help="Samplesheet CSV.")
@outdir_option
@device_option
@seed_option
@click.option("--max-epochs", type=click.IntRange(min=1), default=None, help="Cap on the epochs of each training stage.")
@click.option("--annotation", type=click.Path(dir_okay=False, exists=True), default=None, help="GTF or BED6 gene annotation (gene activity, ATAC QC).")
@click.option("--gene-sets", "gene_sets", multiple=True, type=click.Path(dir_okay=False, exists=True), help="GMT file(s) of gene sets (repeatable).")
@click.option("--paired", is_flag=True, help="Use shared barcodes across modalities as anchors.")
@click.option("--resume", is_flag=True, help="Continue training from DIR/model/checkpoint.pt.")
@click.option("--n-sim-cells", type=click.IntRange(min=0), default=2000, show_default=True, help="Cells to simulate.")
@click.option("--perturb-genes", default="", help="Comma-separated genes to perturb (default: chosen automatically).")
@click.option(
    "--skip",
    "skip",
    multiple=True,
    type=click.Choice(SKIPPABLE),
    help="Leave out a step (repeatable), as the pipeline's --skip_<step>: anchors (train without MNN anchors), "
    "metrics (no integration scores), generation, simulation, perturbation or multiqc (no report).",
)
@backed_option
@threads_option
def run_cmd(
    input_,
    outdir,
    device,
    seed,
    max_epochs,
    annotation,
    gene_sets,
    paired,
    resume,
    n_sim_cells,
    perturb_genes,
    skip,
    backed,
    threads,
) -> None:
    """Run every stage in one process and write the pipeline's output layout under --outdir."""
    from ..runner import RunOptions, run_all

    opts = RunOptions(
        input=Path(input_),
        outdir=Path(outdir),
        device=device,
        seed=seed,
        max_epochs=max_epochs,
        annotation=Path(annotation) if annotation else None,
        gene_sets=[Path(g) for g in gene_sets],
        paired=paired,
        resume=resume,
        n_sim_cells=n_sim_cells,
        perturb_genes=[g for g in perturb_genes.split(",") if g],
        backed=backed,
        threads=threads,
        skip=frozenset(skip),
    )
    timings = run_all(opts, echo=click.echo)
    click.echo(f"crossomics run: done in {sum(timings.values()):.0f} s; outputs in {outdir}")
