"""``crossomics run``: every stage in one process, writing the same layout as the Nextflow pipeline.

Each stage calls the same library function as its CLI subcommand and Nextflow process; the runner only
decides the order, prints one line per stage and records versions and parameters in ``pipeline_info/``.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad

from . import __version__
from ._clock import PartClock
from .io.layout import Layout
from .io.read import read_sample
from .io.rerun import keep_previous_outputs
from .io.samplesheet import SampleRow
from .io.validate import validate_samplesheet
from .io.write import clean_stale_temps, write_json, write_text

log = logging.getLogger("crossomics")

#: what ``crossomics run --skip`` can leave out, named as the pipeline's ``--skip_<step>`` parameters
SKIPPABLE = ("anchors", "metrics", "generation", "simulation", "perturbation", "multiqc")


@dataclass
class RunOptions:
    """Options of ``crossomics run`` (the CLI flags, in one place)."""

    input: Path
    outdir: Path
    device: str = "auto"
    seed: int = 0
    max_epochs: int | None = None
    annotation: Path | None = None
    gene_sets: list[Path] = field(default_factory=list)
    paired: bool = False
    resume: bool = False
    n_sim_cells: int = 2000
    perturb_genes: list[str] = field(default_factory=list)
    backed: bool = False
    threads: int | None = None  # torch CPU threads of training and perturbation (None: settings.default_threads)
    skip: frozenset[str] = frozenset()  # steps left out (SKIPPABLE)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.skip) - set(SKIPPABLE))
        if unknown:
            raise ValueError(f"cannot skip {unknown}: the steps that can be skipped are {list(SKIPPABLE)}")


@dataclass
class Context:
    """What stages share: options, the output layout and the validated samplesheet rows."""

    options: RunOptions
    layout: Layout
    rows: list[SampleRow] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    part_timings: dict[str, dict[str, float]] = field(default_factory=dict)  # seconds per part of a stage


def stage_validate(ctx: Context) -> str:
    """Check every input before any output is written: the samplesheet and its files, the annotation, the
    gene sets and the device (a bad one must not fail the run after QC and priors changed --outdir)."""
    from .priors.gene_sets import read_gmts
    from .settings import resolve_device

    resolve_device(ctx.options.device)
    ctx.rows = validate_samplesheet(ctx.options.input, ctx.options.annotation)
    if ctx.options.gene_sets:
        read_gmts(ctx.options.gene_sets)
    mods = sorted({r.modality for r in ctx.rows})
    return f"{len(ctx.rows)} samples, modalities {', '.join(mods)}"


def stage_qc_preprocess(ctx: Context) -> str:
    from .pp.features import run_preprocess
    from .pp.qc import QCThresholds, run_qc, tss_table
    from .priors.annotation import read_annotation

    tss = tss_table(read_annotation(ctx.options.annotation)) if ctx.options.annotation else None
    kept = []
    for row in ctx.rows:
        summary = run_qc(read_sample(row), row.sample, row.modality, ctx.layout, QCThresholds.defaults(row.modality), annotation_tss=tss)
        qc = ad.read_h5ad(ctx.layout.qc_h5ad(row.sample))
        run_preprocess(qc, row.sample, row.modality, ctx.layout, seed=ctx.options.seed)
        kept.append(f"{row.sample} {summary.get('cells_out', qc.n_obs)}/{summary.get('cells_in', '?')}")
    return "cells kept: " + ", ".join(kept)


def stage_priors(ctx: Context) -> str:
    from ._keys import MODALITY_ATAC, MODALITY_RNA
    from .priors import linkable_pairs, run_anchors, run_gene_activity, run_gene_sets
    from .priors.steps import mnn_summary

    layout, opts = ctx.layout, ctx.options
    pre = {r.sample: ctx.layout.preprocessed(r.sample) for r in ctx.rows}
    rna_ref = next((pre[r.sample] for r in ctx.rows if r.modality == MODALITY_RNA), None)
    with_ga = []
    if opts.annotation:
        for r in ctx.rows:
            if r.modality == MODALITY_ATAC:
                run_gene_activity(pre[r.sample], sample=r.sample, annotation=opts.annotation, outdir=layout.outdir, rna=rna_ref)
                with_ga.append(r.sample)
    n_sets = 0
    if opts.gene_sets:
        for r in ctx.rows:
            source = layout.gene_activity(r.sample) if r.sample in with_ga else pre[r.sample] if r.modality == MODALITY_RNA else None
            if source is not None:
                run_gene_sets(source, sample=r.sample, gmt=opts.gene_sets, outdir=layout.outdir)
                n_sets += 1
    modality = {r.sample: r.modality for r in ctx.rows}
    pairs = [] if "anchors" in opts.skip else linkable_pairs(modality, gene_activity=with_ga)
    found = {}
    for a, b in pairs:
        table = run_anchors(
            pre[a],
            pre[b],
            sample_a=a,
            sample_b=b,
            modality_a=modality[a],
            modality_b=modality[b],
            outdir=layout.outdir,
            features_a=layout.gene_activity(a) if a in with_ga else None,
            features_b=layout.gene_activity(b) if b in with_ga else None,
            seed=opts.seed,
        )
        found[f"{a}-{b}"] = table
    activity = f"gene activity for {len(with_ga)} ATAC samples, gene-set scores for {n_sets}"
    return f"{activity}; {'anchors skipped (--skip anchors)' if 'anchors' in opts.skip else mnn_summary(found)}"


def stage_train(ctx: Context) -> str:
    from .cli._progress import epoch_progress
    from .model.train_step import run_train

    opts = ctx.options
    clock = PartClock()
    with epoch_progress() as progress:
        summary = run_train(
            ctx.rows, ctx.layout, device=opts.device, seed=opts.seed, max_epochs=opts.max_epochs,
            resume=opts.resume, paired=opts.paired, backed=opts.backed, threads=opts.threads, progress=progress,
            clock=clock, evaluate_metrics="metrics" not in opts.skip,
        )
    ctx.part_timings["train"] = clock.rounded()
    metrics = summary.get("metrics", {})
    shown = {k: round(v, 3) for k, v in metrics.items() if isinstance(v, float) and not k.startswith("label_transfer")}
    scores = "metrics skipped (--skip metrics)" if "metrics" in opts.skip else shown
    return f"{summary['epochs']} epochs on {summary['device']}; {scores}"


def _brief(summary: dict[str, Any]) -> str:
    """The scalar figures of a stage summary, rounded, for its one-line report."""
    flat = {k: round(v, 3) if isinstance(v, float) else v for k, v in summary.items() if isinstance(v, int | float | str)}
    return ", ".join(f"{k}={v}" for k, v in flat.items()) or "done"


def stage_generate(ctx: Context) -> str:
    from .tl.stages import run_generation_stage

    clock = PartClock()
    metrics = run_generation_stage(
        ctx.layout, ctx.rows, device=ctx.options.device, seed=ctx.options.seed, clock=clock
    )
    ctx.part_timings["generate"] = clock.rounded()
    headline = ("auroc", "gene_r", "cell_r", "marker_overlap")
    scored = [f"{pair} " + ", ".join(f"{k} {m[k]:.3f}" for k in headline if k in m) for pair, m in metrics.items()]
    return "; ".join(scored) or "no two samples of different modalities share cells: nothing generated"


def stage_simulate(ctx: Context) -> str:
    from .tl.stages import run_simulation_stage

    if ctx.options.n_sim_cells == 0:
        return "skipped (--n-sim-cells 0)"
    summary = run_simulation_stage(ctx.layout, n_cells=ctx.options.n_sim_cells, seed=ctx.options.seed, device=ctx.options.device)
    return _brief(summary)


def stage_perturb(ctx: Context) -> str:
    from .tl.perturb_stage import run_perturbation_stage

    summary = run_perturbation_stage(
        ctx.layout, ctx.rows, genes=ctx.options.perturb_genes or None, gmt=ctx.options.gene_sets,
        device=ctx.options.device, threads=ctx.options.threads,
    )
    return _brief(summary)


def stage_report(ctx: Context) -> str:
    from .report.multiqc import run_report

    write_pipeline_info(ctx, ctx.timings)
    return str(run_report(ctx.layout, samplesheet=ctx.options.input, seed=ctx.options.seed))


STAGES: list[tuple[str, Callable[[Context], str]]] = [
    ("validate", stage_validate),
    ("qc+preprocess", stage_qc_preprocess),
    ("priors", stage_priors),
    ("train", stage_train),
    ("generate", stage_generate),
    ("simulate", stage_simulate),
    ("perturb", stage_perturb),
    ("report", stage_report),
]
#: the stage each whole-stage ``--skip`` step leaves out (anchors and metrics are parts of priors and train)
SKIPPED_STAGE = {"generation": "generate", "simulation": "simulate", "perturbation": "perturb", "multiqc": "report"}


def steps_leaving_out(stages: list[str] | tuple[str, ...]) -> frozenset[str]:
    """The ``--skip`` steps that leave out the whole ``stages``, named as the stages (``report`` -> ``multiqc``)."""
    step_of = {stage: step for step, stage in SKIPPED_STAGE.items()}
    unknown = sorted(set(stages) - set(step_of))
    if unknown:
        raise ValueError(f"cannot leave out stage(s) {unknown}: the stages that can be left out are {list(step_of)}")
    return frozenset(step_of[stage] for stage in stages)


def write_pipeline_info(ctx: Context, timings: dict[str, float]) -> None:
    """``pipeline_info/software_versions.yml`` and ``pipeline_info/params.json``."""
    import importlib.metadata as md

    import yaml

    pkgs = ["torch", "anndata", "scanpy", "numpy", "scipy", "scikit-learn", "mudata", "multiqc"]
    versions = {"crossomics": __version__, "python": platform.python_version()}
    for p in pkgs:
        try:
            versions[p] = md.version(p)
        except md.PackageNotFoundError:
            continue
    write_text(yaml.safe_dump({"CROSSOMICS_RUN": versions}, sort_keys=False), ctx.layout.versions())
    params = {k: _json_param(v) for k, v in vars(ctx.options).items()}
    write_json(
        {"params": params, "stage_seconds": timings, "stage_part_seconds": ctx.part_timings},
        ctx.layout.params(),
    )


def _json_param(value: Any) -> Any:
    """A :class:`RunOptions` value as JSON: paths as strings, lists in order, sets sorted."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, frozenset):
        return sorted(map(str, value))
    if isinstance(value, list):
        return [str(x) for x in value]
    return value


def stage_line(name: str, summary: str, seconds: float, parts: dict[str, float]) -> str:
    """The line ``crossomics run`` prints after a stage: its summary and seconds, with the seconds of its parts
    when it records them (``[train] ... (38.6 s: fit 31.0, umap 3.6, ...)``)."""
    split = ", ".join(f"{part} {s:.1f}" for part, s in parts.items())
    return f"[{name}] {summary} ({seconds:.1f} s{': ' + split if split else ''})"


def run_all(options: RunOptions, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage in order; returns the seconds spent per stage."""
    from tqdm.auto import tqdm

    layout = Layout(options.outdir)
    removed = clean_stale_temps(layout.outdir)
    if removed:
        log.info("removed %d temporary files left by an interrupted run", removed)
    ctx = Context(options=options, layout=layout)
    timings = ctx.timings
    bar = tqdm(total=len(STAGES), desc="crossomics run", unit="stage", leave=False)

    skipped = {SKIPPED_STAGE[step]: step for step in options.skip if step in SKIPPED_STAGE}

    def run_stage(name: str, fn: Callable[[Context], str]) -> None:
        if name in skipped:
            echo(f"[{name}] skipped (--skip {skipped[name]})")
            bar.update()
            return
        start = time.perf_counter()
        line = fn(ctx)
        timings[name] = round(time.perf_counter() - start, 2)
        echo(stage_line(name, line, timings[name], ctx.part_timings.get(name, {})))
        bar.update()

    # bad input found by validation touches nothing under --outdir, not even its folder listing
    first = [(n, fn) for n, fn in STAGES[:1] if n == "validate"]
    for name, fn in first:
        run_stage(name, fn)
    # a rerun that fails later puts the earlier run's outputs back as they were
    with keep_previous_outputs(layout.outdir, resume=options.resume):
        for name, fn in STAGES[len(first) :]:
            run_stage(name, fn)
        write_pipeline_info(ctx, timings)
    bar.close()
    return timings
