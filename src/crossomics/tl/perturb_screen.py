"""Perturbation screens: one gene or every input gene, effects on every target modality, in chunks.

:func:`perturb_screen` returns the tables that :mod:`crossomics.tl.perturb_output` writes:

- ``effects``: gene, target_modality, feature, delta, lfc, score, naive (the naive co-expression answer:
  correlation of the feature with the gene across the unperturbed cells; empty where no measured data of
  that modality is given);
- ``summary``: one row per gene: latent shift, most affected cell types, the marker-type test, strongest
  features per target modality and the rank agreement with the naive predictor;
- ``cell_types``: latent shift per gene and cell type;
- ``condition_shift`` and ``condition_features`` when a source and a reference condition are given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from anndata import AnnData

from .._keys import KEYS
from .._sampling import seeded_subset
from ..errors import InputError
from ..model import CrossModel
from ..model.inputs import select_counts, stored_reduction
from . import perturb_inputs as pin
from .perturb import GeneResult, Perturbation, PerturbationEngine, feature_effects
from .perturb_condition import ConditionContext, condition_features
from .perturb_summary import CellTypeContext, gene_summary

log = logging.getLogger("crossomics")
DEFAULT_DECODE_CELLS = 1000  # feature effects: mean over this many random cells (see docs/perturbation.md)
PROGRESS_SECONDS = 30  # a progress line at most this often
DEFAULT_TOP_FEATURES = 100


@dataclass(frozen=True)
class ScreenOptions:
    """Settings of a screen (all have defaults; see ``crossomics perturb --help``)."""

    perturbation: Perturbation = Perturbation()
    target_modalities: tuple[str, ...] | None = None
    cell_type: str | None = None
    condition_key: str = KEYS.condition
    source_condition: str | None = None
    reference_condition: str | None = None
    decode_cells: int = DEFAULT_DECODE_CELLS
    top_features: int = DEFAULT_TOP_FEATURES
    max_cells: int = 0  # perturb a seeded random subset of this many focus cells; 0: every focus cell
    seed: int = 0


def chunk_blocks(n_blocks: int, chunk: int, n_chunks: int) -> range:
    """Blocks of chunk ``chunk`` (1-based) of ``n_chunks``: contiguous, sizes differing by at most one."""
    if n_chunks < 1 or not 1 <= chunk <= n_chunks:
        msg = f"--chunk {chunk} --n-chunks {n_chunks}: need 1 <= chunk <= n-chunks (numbered from 1)."
        raise InputError(msg)
    bounds = np.linspace(0, n_blocks, n_chunks + 1).round().astype(int)
    return range(bounds[chunk - 1], bounds[chunk])


def _focus(adata: AnnData, options: ScreenOptions) -> tuple[np.ndarray, np.ndarray | None]:
    focus = np.ones(adata.n_obs, dtype=bool)
    if options.cell_type is not None:
        focus &= pin.obs_mask(
            adata, KEYS.cell_type, options.cell_type, what="cell type", option="--cell-type"
        )
    if (options.source_condition is None) != (options.reference_condition is None):
        msg = "--source-condition and --reference-condition go together: give both (or neither)."
        raise InputError(msg)
    reference = None
    if options.source_condition is not None:
        if options.source_condition == options.reference_condition:
            same = options.source_condition
            msg = f"--source-condition and --reference-condition are both {same!r}; give two conditions."
            raise InputError(msg)
        key, opt = options.condition_key, "--condition-key"
        reference = focus & pin.obs_mask(
            adata, key, options.reference_condition, what="condition", option=opt
        )
        focus &= pin.obs_mask(adata, key, options.source_condition, what="condition", option=opt)
    if not focus.any():
        msg = "no input cell is left after the --cell-type / --source-condition filters; loosen them."
        raise InputError(msg)
    if 0 < options.max_cells < focus.sum():
        kept = np.flatnonzero(focus)[seeded_subset(int(focus.sum()), options.max_cells, options.seed)]
        focus = np.zeros_like(focus)
        focus[kept] = True
    return focus, reference


@dataclass
class _Naive:
    """Log-normalised genes (focus cells x input genes) and measured targets for the naive answer."""

    genes: object
    targets: dict[str, tuple[object, list[str]]]

    def correlations(self, columns: list[int]) -> dict[str, np.ndarray]:
        x = self.genes[:, columns].toarray() if columns else np.zeros((self.genes.shape[0], 0))
        return {m: pin.naive_correlation(x, t) for m, (t, _) in self.targets.items()}


def _naive(model, adata, counts, focus_cells, targets, paired: Sequence[AnnData]) -> _Naive:
    genes = pin.log_normalised(counts)[focus_cells]
    measured: dict[str, tuple[object, list[str]]] = {}
    for modality, domain in targets.items():
        feats = model.domains[domain].features
        sources = [adata] + list(paired)
        for i, data in enumerate(sources):
            if data.var_names.isin(feats).mean() < 0.5 and pd.Index(feats).isin(data.var_names).mean() < 0.5:
                continue
            if i == 0:
                tc, _ = select_counts(adata, feats, source="perturbation input")
                tc = tc[focus_cells]
            else:
                tc = pin.paired_counts(adata, data, feats, focus_cells, source=f"paired {modality} data")
            measured[modality] = (pin.log_normalised(tc), feats)
            break
    return _Naive(genes, measured)


def _effects_frame(
    engine, result: GeneResult, naive: dict[str, np.ndarray], k: int, top: int
) -> list[pd.DataFrame]:
    frames = []
    for modality, target in engine.targets.items():
        eff = feature_effects(engine, result, modality)
        frame = pd.DataFrame(
            {
                "gene": result.gene,
                "target_modality": modality,
                "feature": engine.model.domains[target].features,
                "delta": eff["delta"],
                "lfc": eff["lfc"],
                "score": eff["score"],
                "naive": naive[modality][k] if modality in naive else np.nan,
            }
        )
        order = np.argsort(-np.abs(frame["score"].to_numpy()), kind="stable")
        frames.append(frame.iloc[order[:top] if top > 0 else order])
    return frames


def perturb_screen(
    model: CrossModel,
    adata: AnnData,
    modality: str,
    genes: Sequence[str] | None = None,
    *,
    options: ScreenOptions | None = None,
    chunk: int = 1,
    n_chunks: int = 1,
    paired: Sequence[AnnData] = (),
) -> dict[str, pd.DataFrame]:
    """Perturb genes of ``adata``'s cells (one at a time, all cells together) and measure the effects.

    Parameters
    ----------
    model
        Trained model.
    adata
        Cells of one modality the model knows (raw counts in ``layers["counts"]`` or ``X``).
    modality
        The model's sample id or modality of these cells.
    genes
        Genes to perturb (input features of that domain); ``None``: all of them.
    options
        Mode, factor, targets, cell type, conditions, decode cells, features kept per gene, seed.
    chunk, n_chunks
        Compute only chunk ``chunk`` (1-based) of ``n_chunks`` of the screen.
    paired
        Measured data of other modalities for the same cells (naive answer for cross-modal features).

    Returns
    -------
    Tables ``effects``, ``summary``, ``cell_types`` and, with conditions, ``condition_shift`` and
    ``condition_features`` (chunk 1 only), plus ``meta`` (one row of settings).
    """
    options = options or ScreenOptions()
    domain = pin.resolve_source(model, adata, modality)
    features = list(map(str, model.domains[domain].preprocess["features"]))
    if genes is None:
        columns = list(range(len(features)))
    else:
        columns = pin.resolve_genes(genes, features, adata.var_names, domain=domain)
    counts, _ = select_counts(adata, features, source="perturbation input")
    focus, reference = _focus(adata, options)
    targets = pin.resolve_targets(model, domain, options.target_modalities)
    decode_idx = seeded_subset(int(focus.sum()), options.decode_cells, options.seed)
    engine = PerturbationEngine(
        model,
        counts,
        domain=domain,
        targets=targets,
        focus=focus,
        decode_idx=decode_idx,
        perturbation=options.perturbation,
        reduced=stored_reduction(adata, model.domains[domain].preprocess),
    )
    types = adata.obs[KEYS.cell_type].astype(str).to_numpy() if KEYS.cell_type in adata.obs else None
    cell_ctx = CellTypeContext.build(engine, types)
    condition = None
    tables: dict[str, pd.DataFrame] = {}
    if reference is not None:
        z_ref = engine.z0[reference]
        condition = ConditionContext.fit(engine.z0[focus], z_ref, seed=options.seed)
        if chunk == 1:
            ref_idx = np.flatnonzero(reference)[
                seeded_subset(int(reference.sum()), options.decode_cells, options.seed)
            ]
            tables["condition_features"] = condition_features(engine, engine.z0[ref_idx])
    naive = _naive(model, adata, counts, engine.focus_cells, targets, paired)
    blocks = engine.blocks(columns)
    effects, summary, per_type, shifts = [], [], [], []
    mine = chunk_blocks(len(blocks), chunk, n_chunks)
    start = last = time.perf_counter()
    for i, b in enumerate(mine, start=1):
        block = blocks[b]
        if time.perf_counter() - last > PROGRESS_SECONDS:
            last = time.perf_counter()
            log.info("perturb: block %d of %d (%.0f s)", i, len(mine), last - start)
        results = engine.run_block(block, [features[j] for j in block])
        correlations = naive.correlations(block)
        for k, (j, result) in enumerate(zip(block, results, strict=True)):
            effects += _effects_frame(engine, result, correlations, k, options.top_features)
            row, type_rows = gene_summary(
                engine, cell_ctx, result, j, {m: c[k] for m, c in correlations.items()}
            )
            summary.append(row)
            per_type += type_rows
            if condition is not None:
                shifts.append(condition.gene_row(result))
    tables["effects"] = (
        pd.concat(effects, ignore_index=True)
        if effects
        else pd.DataFrame(columns=["gene", "target_modality", "feature", "delta", "lfc", "score", "naive"])
    )
    tables["summary"] = pd.DataFrame(summary)
    tables["cell_types"] = pd.DataFrame(per_type)
    if condition is not None:
        tables["condition_shift"] = pd.DataFrame(shifts)
    tables["meta"] = pd.DataFrame(
        [
            {
                "domain": domain,
                "n_cells": int(focus.sum()),
                "n_decoded": int(decode_idx.size),
                "n_genes_screen": len(columns),
                "n_blocks": len(blocks),
                "targets": ",".join(targets),
                **{k: v for k, v in options.perturbation.describe().items()},
            }
        ]
    )
    return tables
