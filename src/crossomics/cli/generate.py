"""``crossomics generate``, ``crossomics simulate`` and ``crossomics augment``: uses of a trained model."""

from __future__ import annotations

from pathlib import Path

import click

from . import cli
from ._options import device_option, seed_option

_model = click.option(
    "--model", "model_dir", required=True, type=click.Path(), help="DIR/model of a `crossomics train` run."
)
_out_file = click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .h5ad file.")


@cli.command("generate")
@_model
@click.option(
    "--input", "input_", required=True, type=click.Path(), help="Cells of the source modality (raw counts)."
)
@click.option("--source", required=True, help="Modality (or sample id) of the input cells.")
@click.option("--target", required=True, help="Modality (or sample id) to generate.")
@_out_file
@device_option
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=1024, show_default=True, help="Cells per batch."
)
def generate_cmd(
    model_dir: str, input_: str, source: str, target: str, out: str, device: str, batch_size: int
) -> None:
    """Translate cells from one modality to another: expected counts (or probabilities) of the target in X."""
    from .._keys import KEYS
    from ..tl.stages import run_generate

    result = run_generate(
        model_dir, input_, out, source=source, target=target, device=device, batch_size=batch_size
    )
    info = result.uns[KEYS.generate]
    missing = (
        f", {info['n_missing']}/{info['n_features_expected']} input features missing (zeros)"
        if info["n_missing"]
        else ""
    )
    click.echo(
        f"generate: {result.n_obs} cells {info['source_sample']} ({info['source_modality']}) -> "
        f"{info['target_sample']} ({info['target_modality']}), {result.n_vars} features{missing}; wrote {out}"
    )


@cli.command("simulate")
@_model
@click.option("--n-cells", type=click.IntRange(min=1), required=True, help="Cells to simulate.")
@click.option("--cell-type", "cell_types", multiple=True, help="Simulate only this cell type (repeatable).")
@click.option(
    "--proportions",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV with columns cell_type,proportion: the share of each type (default: training frequencies).",
)
@click.option("--condition", default=None, help="Simulate cells of this obs['condition'] only.")
@click.option(
    "--dispersion",
    type=click.Choice(["model", "calibrated"]),
    default="model",
    show_default=True,
    help="NB dispersion of the sampled counts: the model's own, or calibrated on the training counts "
    "(for a model whose dispersion is undertrained).",
)
@seed_option
@device_option
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Output folder (DIR/simulation/)."
)
def simulate_cmd(
    model_dir: str,
    n_cells: int,
    cell_types: tuple[str, ...],
    proportions: str | None,
    condition: str | None,
    dispersion: str,
    seed: int,
    device: str,
    out: str,
) -> None:
    """Simulate matched multi-omics cells: one .h5ad of sampled counts per modality, shared obs_names."""
    from ..errors import InputError
    from ..tl.stages import run_simulate

    if cell_types and proportions:
        msg = "--cell-type and --proportions both given; use one (the proportions file names the types)."
        raise InputError(msg)
    result = run_simulate(
        model_dir,
        out,
        n_cells=n_cells,
        cell_types=list(cell_types),
        proportions=proportions,
        condition=condition,
        seed=seed,
        device=device,
        dispersion=dispersion,
    )
    rate = n_cells / max(result["seconds"], 1e-9)
    files = ", ".join(str(Path(p)) for p in result["paths"].values())
    click.echo(f"simulate: {n_cells} cells in {result['seconds']:.1f} s ({rate:,.0f} cells/s); wrote {files}")


@cli.command("augment")
@_model
@click.option(
    "--input", "input_", required=True, type=click.Path(), help="Labelled cells (raw counts, obs cell_type)."
)
@click.option("--modality", required=True, help="Modality (or sample id) of the input cells.")
@click.option(
    "--min-cells",
    type=click.IntRange(min=1),
    required=True,
    help="Top every cell type up to this many cells.",
)
@_out_file
@seed_option
@device_option
def augment_cmd(
    model_dir: str, input_: str, modality: str, min_cells: int, out: str, seed: int, device: str
) -> None:
    """Add synthetic cells (obs synthetic True) to the cell types with fewer than --min-cells cells."""
    from ..tl.augment import run_augment

    added = run_augment(
        model_dir, input_, out, modality=modality, min_cells=min_cells, seed=seed, device=device
    )
    what = ", ".join(f"{t} +{n}" for t, n in added.items()) or "no type below --min-cells"
    click.echo(f"augment: {sum(added.values())} synthetic cells ({what}); wrote {out}")
