"""``crossomics perturb`` and ``crossomics perturb-merge``: in-silico perturbation, whole or chunked."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError
from . import cli
from ._options import device_option, seed_option, threads_option


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _gene_choice(genes: str | None, gene_list: str | None, all_genes: bool) -> list[str] | None:
    given = [name for name, v in (("--genes", genes), ("--gene-list", gene_list), ("--all", all_genes)) if v]
    if len(given) != 1:
        msg = "choose the genes to perturb with exactly one of --genes G1,G2, --gene-list FILE or --all" + (
            f" (got {' and '.join(given)})." if given else "."
        )
        raise InputError(msg)
    if all_genes:
        return None
    if gene_list:
        from ..tl.perturb_inputs import read_gene_list

        return read_gene_list(gene_list)
    return _split(genes)


_top_genes = click.option(
    "--top-genes",
    type=click.IntRange(min=1),
    default=None,
    help="Genes counted as 'top' in the pathway enrichment [default: 10% of the screen, at least 5].",
)
_gmt = click.option(
    "--gmt",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="GMT gene sets for the enrichment (repeatable).",
)


@cli.command("perturb")
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="DIR/model of a trained run.",
)
@click.option(
    "--input",
    "input_",
    required=True,
    type=click.Path(),
    help="Cells to perturb (h5ad or other count matrix).",
)
@click.option(
    "--modality", required=True, help="The model's modality (or sample id) of these cells, e.g. rna."
)
@click.option("--genes", default=None, help="Comma-separated genes to perturb.")
@click.option(
    "--gene-list", type=click.Path(dir_okay=False), default=None, help="File with the genes, one per line."
)
@click.option(
    "--all", "all_genes", is_flag=True, help="Screen every input gene of the model (e.g. all HVGs)."
)
@click.option(
    "--mode",
    type=click.Choice(["ko", "kd", "oe"]),
    default="ko",
    show_default=True,
    help="ko: counts to 0; kd: counts x factor; oe: raise to a high quantile (or x factor).",
)
@click.option(
    "--factor", type=float, default=None, help="kd: 0 < F < 1 [default 0.5]; oe: F > 1 multiplies counts."
)
@click.option(
    "--oe-quantile",
    type=float,
    default=0.9,
    show_default=True,
    help="oe without --factor: quantile of the gene's share among expressing cells to raise cells to.",
)
@click.option("--cell-type", default=None, help="Perturb and report only cells with this obs['cell_type'].")
@click.option(
    "--target-modalities",
    default=None,
    help="Comma-separated modalities to decode [default: all of the model's].",
)
@click.option(
    "--chunk",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Chunk of the screen to run (1-based).",
)
@click.option(
    "--n-chunks",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Chunks the screen is cut into.",
)
@click.option(
    "--condition-key", default="condition", show_default=True, help="obs column holding the conditions."
)
@click.option(
    "--source-condition", default=None, help="Condition of the cells that are perturbed (e.g. disease)."
)
@click.option(
    "--reference-condition", default=None, help="Condition the perturbation should move them toward."
)
@_gmt
@_top_genes
@click.option(
    "--decode-cells",
    type=click.IntRange(min=0),
    default=None,
    help="Cells (seeded random subset) whose decoded values give feature effects; 0: all [default: 1000].",
)
@click.option(
    "--max-cells",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Perturb a seeded random subset of this many cells (after --cell-type / --source-condition); 0: all.",
)
@click.option(
    "--top-features",
    type=click.IntRange(min=0),
    default=None,
    help="Features kept per gene and target modality in effects.tsv (top |score|); 0: all [default: 100].",
)
@click.option(
    "--paired",
    multiple=True,
    type=click.Path(),
    help="Measured data of another modality for the same cells (naive baseline).",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Output folder, e.g. DIR/perturbation/."
)
@threads_option
@seed_option
@device_option
def perturb_cmd(
    model_dir: str,
    input_: str,
    modality: str,
    genes: str | None,
    gene_list: str | None,
    all_genes: bool,
    mode: str,
    factor: float | None,
    oe_quantile: float,
    cell_type: str | None,
    target_modalities: str | None,
    chunk: int,
    n_chunks: int,
    condition_key: str,
    source_condition: str | None,
    reference_condition: str | None,
    gmt: tuple[str, ...],
    top_genes: int | None,
    decode_cells: int | None,
    max_cells: int,
    top_features: int | None,
    paired: tuple[str, ...],
    out: str,
    threads: int | None,
    seed: int,
    device: str,
) -> None:
    """Knock out, knock down or over-express genes in silico; write effects, summary and condition shift."""
    from ..tl.perturb import Perturbation
    from ..tl.perturb_screen import ScreenOptions
    from ..tl.perturb_stage import run_perturb

    chosen = _gene_choice(genes, gene_list, all_genes)
    if chunk > n_chunks:
        msg = f"--chunk {chunk} is larger than --n-chunks {n_chunks}; chunks are numbered 1..{n_chunks}."
        raise InputError(msg)
    options = ScreenOptions(
        perturbation=Perturbation(mode, factor, oe_quantile),
        target_modalities=tuple(_split(target_modalities)) or None,
        cell_type=cell_type,
        condition_key=condition_key,
        source_condition=source_condition,
        reference_condition=reference_condition,
        seed=seed,
        max_cells=max_cells,
        **({} if decode_cells is None else {"decode_cells": decode_cells}),
        **({} if top_features is None else {"top_features": top_features}),
    )
    settings = run_perturb(
        model_dir,
        input_,
        out,
        modality=modality,
        genes=chosen,
        options=options,
        chunk=chunk,
        n_chunks=n_chunks,
        gmt=gmt,
        top_genes=top_genes,
        paired=paired,
        device=device,
        threads=threads,
    )
    what = f"chunk {chunk} of {n_chunks}" if n_chunks > 1 else "screen"
    click.echo(
        f"perturb ({settings['mode']}): {what} of {settings['n_genes_screen']} genes, "
        f"{settings['n_cells']} cells in {settings['seconds']:.1f} s -> {Path(out)}"
    )


@cli.command("perturb-merge")
@click.option(
    "--inputs", required=True, multiple=True, type=click.Path(), help="Chunk folders (--out of each chunk)."
)
@click.argument("more_inputs", nargs=-1, type=click.Path())
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Output folder, e.g. DIR/perturbation/."
)
@_gmt
@_top_genes
def perturb_merge_cmd(
    inputs: tuple[str, ...],
    more_inputs: tuple[str, ...],
    out: str,
    gmt: tuple[str, ...],
    top_genes: int | None,
) -> None:
    """Join the chunks of a screen into effects.tsv, summary.tsv, condition_shift.tsv (and pathways.tsv).

    Folders may follow --inputs directly (``--inputs chunk_1 chunk_2 ...``).
    """
    from ..tl.perturb_stage import run_merge

    settings = run_merge([*inputs, *more_inputs], out, gmt=gmt, top_genes=top_genes)
    click.echo(
        f"perturb-merge: {settings['merged_chunks']} chunks, {settings['n_genes_screen']} genes"
        f" -> {Path(out)}"
    )
