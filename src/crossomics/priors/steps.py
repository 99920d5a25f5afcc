"""The priors as pipeline steps: read the inputs, compute, write under ``DIR/priors`` (and ``DIR/metrics``).

One function per step serves the CLI (:mod:`crossomics.cli.priors`), the ``bin/`` scripts and the runner.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .._keys import KEYS, MODALITY_ATAC
from ..errors import InputError
from ..io.layout import Layout
from ..io.read import read_matrix
from ..io.write import write_h5ad, write_json, write_tsv
from .anchors import anchor_metrics, anchors_between
from .annotation import read_annotation
from .fragments import fragment_gene_activity
from .gene_activity import Weighting, gene_activity
from .gene_sets import read_gmts, score_gene_sets
from .protein_genes import read_feature_mapping

log = logging.getLogger("crossomics")

MIN_SCORE = 0.05  # least neighbourhood-consistency score of a flagged anchor (every MNN pair trains the model)


def run_gene_activity(
    path: str | Path,
    *,
    sample: str,
    annotation: str | Path,
    outdir: str | Path,
    fragments: str | Path | None = None,
    upstream: int = 2000,
    downstream: int = 0,
    weighting: Weighting = "uniform",
    decay: float = 5000.0,
    rna: str | Path | None = None,
    case_insensitive: bool = False,
) -> Path:
    """Gene activity of an ATAC sample (peaks or fragments), to ``priors/<sample>.gene_activity.h5ad``.

    Parameters are those of :func:`crossomics.priors.gene_activity.gene_activity` and
    :func:`crossomics.priors.fragments.fragment_gene_activity`; ``rna`` is an RNA file whose genes the
    output keeps (and counts as matched).

    Returns
    -------
    The written path. The AnnData holds cells x genes counts (CSR float32) in ``X``, the ATAC ``obs``, and
    ``uns["crossomics_gene_activity"]`` (window, peaks matched, genes with >= 1 peak, sample, input).
    """
    atac = read_matrix(path, modality=MODALITY_ATAC)
    genes = read_annotation(annotation)
    gene_names = None if rna is None else list(read_matrix(rna).var_names)
    common = {
        "upstream": upstream,
        "downstream": downstream,
        "gene_names": gene_names,
        "case_insensitive": case_insensitive,
        "annotation": str(annotation),
        "gene_names_source": str(rna),
    }
    if fragments is None:
        result = gene_activity(atac, genes, weighting=weighting, decay=decay, source=str(path), **common)
    else:
        result = fragment_gene_activity(fragments, atac.obs_names, genes, **common)
        result.obs = atac.obs.copy()
    result.uns[KEYS.gene_activity].update({"sample": sample, "input": str(path)})
    return write_h5ad(result, Layout(outdir).gene_activity(sample))


def run_gene_sets(
    path: str | Path,
    *,
    sample: str,
    gmt: Sequence[str | Path],
    outdir: str | Path,
    min_genes: int = 5,
    max_genes: int = 500,
    case_insensitive: bool = True,
) -> Path:
    """Gene-set scores of RNA counts or ATAC gene activity, written to ``priors/<sample>.genesets.h5ad``.

    Returns
    -------
    The written path. The AnnData holds cells x sets scores (dense float32) in ``X``, ``var[source, n_genes,
    n_genes_present]`` and ``uns["crossomics_gene_sets"]`` (method, thresholds, sets used and skipped).
    """
    expr = read_matrix(path)
    sets, origin = read_gmts(gmt)
    scores = score_gene_sets(
        expr,
        sets,
        min_genes=min_genes,
        max_genes=max_genes,
        case_insensitive=case_insensitive,
        origin=origin,
        source=str(path),
    )
    scores.uns[KEYS.gene_sets].update({"sample": sample, "input": str(path)})
    return write_h5ad(scores, Layout(outdir).gene_sets(sample))


def mnn_summary(tables: dict[str, pd.DataFrame], min_score: float = MIN_SCORE) -> str:
    """Tables of :func:`run_anchors`, by sample pair, in words: the MNN pairs that train the model and, in
    brackets, how many are anchors: ``MNN pairs (anchors, score >= 0.05): rna-atac 10,676 (4,534)``."""
    counts = "; ".join(f"{pair} {len(t):,} ({int(t['anchor'].sum()):,})" for pair, t in tables.items())
    return f"MNN pairs (anchors, score >= {min_score:g}): {counts or 'none'}"


def run_anchors(
    input_a: str | Path,
    input_b: str | Path,
    *,
    sample_a: str,
    sample_b: str,
    modality_a: str,
    modality_b: str,
    outdir: str | Path,
    features_a: str | Path | None = None,
    features_b: str | Path | None = None,
    mapping: str | Path | None = None,
    k: int = 20,
    min_score: float = MIN_SCORE,
    case_insensitive: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """Anchors between two samples, to ``priors/anchors_<a>__<b>.tsv``; metrics to ``metrics/anchors.json``.

    The table lists every mutual-nearest-neighbour pair (``cell_a``, ``cell_b``, ``score``) with ``anchor``
    true where ``score >= min_score``; the metrics describe the flagged anchors.

    Returns
    -------
    The table written: every pair (``cell_a``, ``cell_b``, ``score``, ``anchor``). ``metrics/anchors.json``
    gains the key ``<a>__<b>`` with :func:`crossomics.priors.anchors.anchor_metrics` (precision and cell types
    covered when both samples have ``obs["cell_type"]``).
    """
    if sample_a == sample_b:
        msg = f"--sample-a and --sample-b are both {sample_a!r}: anchors link two different samples."
        raise InputError(msg)
    a = read_matrix(input_a, modality=modality_a)
    b = read_matrix(input_b, modality=modality_b)
    started = time.perf_counter()
    anchors = anchors_between(
        a,
        b,
        modality_a=modality_a,
        modality_b=modality_b,
        features_a=None if features_a is None else read_matrix(features_a),
        features_b=None if features_b is None else read_matrix(features_b),
        mapping=None if mapping is None else read_feature_mapping(mapping),
        case_insensitive=case_insensitive,
        k=k,
        min_score=0.0,
        seed=seed,
        sources=(f"{sample_a} ({input_a})", f"{sample_b} ({input_b})"),
    )
    seconds = time.perf_counter() - started
    # every mutual-nearest-neighbour pair is kept, flagged ``anchor`` when its score reaches min_score: the
    # model trains on all pairs (breadth beats precision for alignment), the flag and the metrics describe
    # the high-confidence anchors
    table = anchors.assign(anchor=anchors["score"] >= min_score)
    anchors = table[table["anchor"]]
    if anchors.empty:
        log.warning(
            "anchors %s__%s: no pair reached --min-score %g; lower it to keep weaker pairs",
            sample_a,
            sample_b,
            min_score,
        )
    layout = Layout(outdir)
    write_tsv(table, layout.anchors(sample_a, sample_b))
    metrics = anchor_metrics(anchors, a.obs, b.obs, seconds)
    metrics["n_mnn_pairs"] = len(table)
    metrics["min_score"] = min_score
    metrics_path = layout.metrics("anchors")
    try:
        collected = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON; starting it afresh", metrics_path)
        collected = {}
    collected[f"{sample_a}__{sample_b}"] = metrics
    write_json(collected, metrics_path)
    log.info("anchors %s__%s: %s", sample_a, sample_b, metrics)
    return table
