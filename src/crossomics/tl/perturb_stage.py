"""The ``perturb`` and ``perturb-merge`` steps: files in, tables out. One function per caller-facing step.

:func:`run_perturb` serves ``crossomics perturb`` and the Nextflow PERTURB process; :func:`run_merge`
serves ``crossomics perturb-merge``; :func:`run_perturbation_stage` is the embedded runner's stage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from .._keys import KEYS, KNOWN_MODALITIES
from ..errors import InputError
from ..io.layout import Layout
from ..io.read import read_matrix, read_preprocessed
from ..io.samplesheet import SampleRow
from ..io.write import write_json
from ..model import CrossModel
from ..model.store import read_manifest
from ..settings import set_threads
from .perturb import Perturbation
from .perturb_output import finalize, merge_chunks, write_chunk, write_tables
from .perturb_screen import ScreenOptions, perturb_screen

log = logging.getLogger("crossomics")
DEFAULT_STAGE_GENES = 20  # genes perturbed by the runner when none are named (most variable input genes)
# cells the runner perturbs (seeded random subset above this): over all of 100k cells the stage reached 11.7 GiB
STAGE_MAX_CELLS = 20_000


def _gene_sets(gmt: Sequence[str | Path]) -> dict[str, list[str]] | None:
    if not gmt:
        return None
    from ..priors.gene_sets import read_gmts

    return read_gmts(list(gmt))[0]


def run_perturb(
    model_dir: str | Path,
    input_path: str | Path,
    out: str | Path,
    *,
    modality: str,
    genes: Sequence[str] | None,
    options: ScreenOptions | None = None,
    chunk: int = 1,
    n_chunks: int = 1,
    gmt: Sequence[str | Path] = (),
    top_genes: int | None = None,
    paired: Sequence[str | Path] = (),
    device: str = "cpu",
    threads: int | None = None,
) -> dict[str, Any]:
    """Load the model and cells, screen ``genes`` (``None``: all input genes), write the tables to ``out``.

    ``threads`` sets torch's CPU threads (:func:`crossomics.settings.set_threads`; default: the usable cores).
    With ``n_chunks`` > 1 only chunk ``chunk`` is computed and written as ``<table>.chunk<K>of<N>.tsv``
    (join them with :func:`run_merge`); otherwise the final tables are written.

    Returns
    -------
    The settings written to ``perturb.json`` / ``meta.chunk<K>of<N>.json`` (with sizes and seconds).
    """
    start = time.perf_counter()
    n_threads = set_threads(threads)
    options = options or ScreenOptions()
    gene_sets = _gene_sets(gmt)  # read first: a bad GMT fails before the screen
    manifest = read_manifest(Path(model_dir))
    model = CrossModel.load(model_dir, device=device)
    adata = read_matrix(input_path, modality=modality if modality in KNOWN_MODALITIES else None)
    paired_data = [read_matrix(p) for p in paired]
    tables = perturb_screen(
        model, adata, modality, genes, options=options, chunk=chunk, n_chunks=n_chunks, paired=paired_data
    )
    meta = tables.pop("meta").iloc[0].to_dict()
    settings = {
        "model_sha256": manifest.get("sha256", {}).get("weights.pt"),
        "input": Path(input_path).name,
        "genes": "all" if genes is None else list(genes),
        "cell_type": options.cell_type,
        "condition_key": options.condition_key,
        "source_condition": options.source_condition,
        "reference_condition": options.reference_condition,
        "decode_cells": options.decode_cells,
        "max_cells": options.max_cells,
        "top_features": options.top_features,
        "seed": options.seed,
        "gmt": [str(Path(g).resolve()) for g in gmt],
        "top_genes": top_genes,
        **{k: (v.item() if isinstance(v, np.generic) else v) for k, v in meta.items()},
        "threads": n_threads,
        "chunk": chunk,
        "n_chunks": n_chunks,
    }
    out = Path(out)
    if n_chunks > 1:
        settings["seconds"] = time.perf_counter() - start
        write_chunk(tables, out, settings)
    else:
        final = finalize(tables, gene_sets=gene_sets, top_genes=top_genes)
        settings["seconds"] = time.perf_counter() - start
        write_tables(final, out, {k: v for k, v in settings.items() if k not in ("chunk", "n_chunks")})
    return settings


def run_merge(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    gmt: Sequence[str | Path] = (),
    top_genes: int | None = None,
) -> dict[str, Any]:
    """Join chunk folders into ``out``; gene sets default to the GMT files the chunks were run with."""
    from .perturb_output import find_chunks

    if not gmt:
        recorded = next(iter(find_chunks(inputs).values()))[1].get("gmt") or []
        gmt = [g for g in recorded if Path(g).is_file()]
        if len(gmt) < len(recorded):
            log.warning(
                "perturb-merge: GMT files of the chunks not found here; pass --gmt for pathway enrichment"
            )
    return merge_chunks(inputs, out, gene_sets=_gene_sets(gmt), top_genes=top_genes)


def _default_genes(adata: ad.AnnData, truth: dict[str, Any]) -> list[str]:
    """The demo driver (when recorded) followed by the most variable input genes of a preprocessed sample
    (its ``uns["crossomics_preprocess"]["features"]``, the model's input genes of that sample)."""
    features = list(map(str, adata.uns[KEYS.preprocess]["features"]))
    driver = [truth["driver"]] if truth.get("driver") in features else []
    from ..model.inputs import select_counts
    from .perturb_inputs import log_normalised

    x = log_normalised(select_counts(adata, features, source="perturbation input")[0])
    mean = np.asarray(x.mean(axis=0)).ravel()
    var = np.asarray(x.multiply(x).mean(axis=0)).ravel() - mean**2
    ranked = [features[i] for i in np.argsort(-var, kind="stable")]
    return list(dict.fromkeys(driver + ranked))[:DEFAULT_STAGE_GENES]


def run_perturbation_stage(
    layout: Layout,
    rows: Sequence[SampleRow],
    *,
    genes: Sequence[str] | None = None,
    modality: str = "rna",
    options: ScreenOptions | None = None,
    gmt: Sequence[str | Path] = (),
    device: str = "cpu",
    threads: int | None = None,
) -> dict[str, Any]:
    """The runner's perturbation stage: ``DIR/perturbation/`` and ``DIR/metrics/perturbation.json``.

    Perturbs the cells of the first sample of ``modality`` (its preprocessed file). Genes default to the
    demo driver when the data records one (``uns["demo_truth"]``) and the most variable input genes
    (:data:`DEFAULT_STAGE_GENES` in all); options default to over-expression with every feature kept, on at
    most :data:`STAGE_MAX_CELLS` cells (a seeded random subset). When
    the data records a reference and a perturbed condition, the condition shift is measured too, and the
    metrics hold the demo ground-truth AUROCs.
    """
    from .perturb_truth import demo_truth_metrics

    row = next((r for r in rows if r.modality == modality), None)
    if row is None:
        msg = f"no samplesheet row has modality {modality!r}; the perturbation stage needs one."
        raise InputError(msg)
    source = layout.outdir / "preprocess" / f"{row.sample}.h5ad"
    qc = layout.outdir / "qc" / f"{row.sample}.qc.h5ad"
    truth = dict(ad.read_h5ad(qc, backed="r").uns.get(KEYS.demo_truth, {})) if qc.is_file() else {}
    # obs and counts only (no normalised X), released before the screen reads the cells it perturbs
    adata = read_preprocessed(source)
    has_conditions = KEYS.condition in adata.obs
    if not genes:
        genes = _default_genes(adata, truth)
    del adata
    genes = list(genes)
    options = options or ScreenOptions(perturbation=Perturbation("oe"), top_features=0, max_cells=STAGE_MAX_CELLS)
    if options.source_condition is None and truth.get("perturbed_condition") and has_conditions:
        # over-expression moves reference (ctrl) cells toward the perturbed condition; KO/KD the other way
        low, high = str(truth["reference_condition"]), str(truth["perturbed_condition"])
        moved, toward = (low, high) if options.perturbation.mode == "oe" else (high, low)
        options = replace(options, source_condition=moved, reference_condition=toward)
    out = layout.dir("perturbation")
    settings = run_perturb(
        layout.outdir / "model",
        source,
        out,
        modality=row.sample,
        genes=genes,
        options=options,
        gmt=gmt,
        device=device,
        threads=threads,
    )
    metrics = {
        "genes": genes,
        "seconds": settings["seconds"],
        "mode": settings["mode"],
        "n_cells": settings["n_cells"],
    }
    if truth.get("driver") in genes:
        metrics["demo_truth"] = demo_truth_metrics(out / "effects.tsv", truth, mode=options.perturbation.mode)
    write_json(metrics, layout.metrics("perturbation"))
    return metrics
