"""``crossomics train``, ``crossomics embed`` and ``crossomics metrics``."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import click

from ..io.layout import Layout
from ..io.samplesheet import read_samplesheet
from ..io.write import write_h5ad, write_json
from . import cli
from ._options import backed_option, device_option, outdir_option, seed_option, threads_option
from ._progress import epoch_progress


@cli.command("train")
@click.option("--input", "input_", required=True, type=click.Path(dir_okay=False), help="Samplesheet CSV.")
@outdir_option
@device_option
@seed_option
@click.option("--max-epochs", type=click.IntRange(min=1), default=None, help="Cap on the epochs of each stage.")
@click.option("--resume", is_flag=True, help="Continue from DIR/model/checkpoint.pt.")
@click.option(
    "--paired",
    is_flag=True,
    help="Use shared barcodes across modalities as anchors (off by default: benchmarks measure unpaired integration).",
)
@click.option(
    "--skip-metrics",
    is_flag=True,
    help="Do not score the integration (DIR/metrics/integration.json); `crossomics metrics` scores it later.",
)
@backed_option
@threads_option
def train_cmd(
    input_: str,
    outdir: str,
    device: str,
    seed: int,
    max_epochs: int | None,
    resume: bool,
    paired: bool,
    skip_metrics: bool,
    backed: bool,
    threads: int | None,
) -> None:
    """Train the model on DIR/preprocess and DIR/priors; write DIR/model, DIR/integration and metrics."""
    from ..model.train_step import run_train
    from ..settings import resolve_device

    resolve_device(device)  # a missing GPU fails before any data is read
    rows = read_samplesheet(input_)
    with epoch_progress() as progress:
        summary = run_train(
            rows, Layout(outdir), device=device, seed=seed, max_epochs=max_epochs, resume=resume, paired=paired,
            backed=backed, threads=threads, progress=progress, evaluate_metrics=not skip_metrics,
        )
    click.echo(f"train: {summary['epochs']} epochs on {summary['device']}, {summary['n_anchor_pairs']} anchor pairs; model in {Path(outdir) / 'model'}")
    if "metrics" in summary:
        click.echo(json.dumps({k: v for k, v in summary["metrics"].items() if isinstance(v, float)}, indent=1))


@cli.command("embed")
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False, exists=True), help="DIR/model of a trained run.")
@click.option("--input", "input_", required=True, type=click.Path(dir_okay=False, exists=True), help="Cells (.h5ad, raw counts).")
@click.option("--sample", required=True, help="Sample id (names the output file).")
@click.option("--modality", required=True, help="The model's sample id or modality these cells belong to.")
@outdir_option
@device_option
def embed_cmd(model_dir: str, input_: str, sample: str, modality: str, outdir: str, device: str) -> None:
    """Embed cells into the joint space: DIR/integration/<sample>.latent.h5ad (obsm X_crossomics)."""
    from .._keys import KEYS
    from ..errors import InputError
    from ..io.read import read_matrix
    from ..model import CrossModel

    model = CrossModel.load(model_dir, device=device)
    adata = read_matrix(input_)
    try:
        z = model.get_latent(adata, modality)
    except InputError as err:
        raise InputError(f"{input_}: {err}") from None
    out = ad.AnnData(obs=adata.obs.copy())
    out.obsm[KEYS.latent] = z
    out.obs[KEYS.modality] = model.domains[model.resolve_domain(modality)].modality
    path = write_h5ad(out, Layout(outdir).latent(sample))
    click.echo(f"embed: {out.n_obs} cells -> {path}")


@cli.command("metrics")
@click.option("--input", "input_", required=True, type=click.Path(dir_okay=False), help="Samplesheet CSV.")
@outdir_option
@seed_option
def metrics_cmd(input_: str, outdir: str, seed: int) -> None:
    """Integration metrics from DIR/integration/*.latent.h5ad -> DIR/metrics/integration.json."""
    from ..errors import InputError
    from ..model.train_step import evaluate

    layout = Layout(outdir)
    rows = read_samplesheet(input_)
    latents = {}
    for r in rows:
        path = layout.outdir / "integration" / f"{r.sample}.latent.h5ad"
        if not path.is_file():
            msg = f"{path}: no latent for sample {r.sample!r}; run `crossomics train` or `crossomics embed` first."
            raise InputError(msg)
        latents[r.sample] = ad.read_h5ad(path)
    metrics = evaluate(rows, latents, seed=seed)
    write_json(metrics, layout.metrics("integration"))
    click.echo(json.dumps({k: v for k, v in metrics.items() if isinstance(v, float)}, indent=1))
