"""Per-sample quality control: cell metrics, threshold filtering and the QC record (h5ad + JSON)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS, MODALITY_ADT, MODALITY_ATAC, MODALITY_RNA
from ..errors import InputError
from ..io.layout import Layout
from ..io.peaks import split_peak_names
from ..io.write import write_h5ad, write_json

MITO_PATTERN = re.compile(r"^mt-", flags=re.IGNORECASE)


@dataclass(frozen=True)
class QCThresholds:
    """Cell and feature filters. ``None`` switches a filter off.

    Attributes
    ----------
    min_counts
        Fewest total counts a cell may have.
    min_features
        Fewest detected features (count > 0) a cell may have.
    max_pct_mito
        Largest percentage of counts in mitochondrial genes (``mt-``/``MT-``; RNA only).
    max_counts_quantile
        Drop cells above this quantile of total counts (doublet proxy), e.g. 0.995.
    min_cells_per_feature
        Fewest kept cells in which a feature must be detected.
    """

    min_counts: int | None = 20
    min_features: int | None = 10
    max_pct_mito: float | None = 20.0
    max_counts_quantile: float | None = None
    min_cells_per_feature: int | None = 3

    @classmethod
    def defaults(cls, modality: str) -> QCThresholds:
        """Defaults for ``modality``: they keep >= 95% of the cells of the real sets in ``shared/data``."""
        if modality == MODALITY_ATAC:
            return cls(min_counts=5, min_features=5, max_pct_mito=None)
        if modality == MODALITY_ADT:
            return cls(min_counts=20, min_features=3, max_pct_mito=None, min_cells_per_feature=1)
        return cls()

    def updated(self, **overrides: Any) -> QCThresholds:
        """A copy with the non-``None`` ``overrides`` applied (CLI options left unset keep the default)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _peak_coordinates(adata: AnnData) -> pd.DataFrame | None:
    """``chrom``/``chromStart``/``chromEnd`` per feature from ``var`` or the names; ``None`` if not peaks."""
    columns = [KEYS.chrom, KEYS.chrom_start, KEYS.chrom_end]
    if set(columns) <= set(adata.var.columns):
        return adata.var[columns].reset_index(drop=True)
    coords, bad = split_peak_names(adata.var_names)
    return None if bad else coords.reset_index(drop=True)


def tss_table(genes: pd.DataFrame) -> pd.DataFrame:
    """Transcription start sites (``chrom``, ``pos``) of genes (``chrom``, ``start``, ``end``, ``strand``).

    The TSS is the gene's end on the minus strand and its start otherwise (0-based coordinates).
    """
    minus = genes["strand"].astype(str).to_numpy() == "-"
    pos = np.where(minus, genes["end"].to_numpy(dtype=np.int64) - 1, genes["start"].to_numpy(dtype=np.int64))
    return pd.DataFrame({"chrom": genes["chrom"].astype(str).to_numpy(), "pos": pos})


def promoter_peaks(adata: AnnData, annotation_tss: pd.DataFrame, *, window: int = 1000) -> np.ndarray | None:
    """Boolean mask of peaks that overlap ``window`` bp around a TSS; ``None`` if peaks have no coordinates.

    ``annotation_tss`` has columns ``chrom`` and ``pos`` (one row per transcription start site).
    """
    peaks = _peak_coordinates(adata)
    if peaks is None:
        return None
    mask = np.zeros(len(peaks), dtype=bool)
    tss_by_chrom = {
        str(c): np.sort(g["pos"].to_numpy(dtype=np.int64)) for c, g in annotation_tss.groupby("chrom")
    }
    starts = peaks[KEYS.chrom_start].to_numpy(dtype=np.int64)
    ends = peaks[KEYS.chrom_end].to_numpy(dtype=np.int64)
    for chrom, idx in peaks.groupby(KEYS.chrom).indices.items():
        tss = tss_by_chrom.get(str(chrom))
        if tss is None:
            continue
        lo = starts[idx] - window
        hi = ends[idx] + window
        # a TSS lies in [lo, hi] when the first TSS >= lo is <= hi
        first = np.searchsorted(tss, lo, side="left")
        inside = first < len(tss)
        mask[idx[inside]] = tss[first[inside]] <= hi[inside]
    return mask


def qc_metrics(adata: AnnData, modality: str, *, annotation_tss: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-cell QC metrics of a raw-count AnnData (``X`` holds counts).

    Parameters
    ----------
    adata
        Cells x features, raw counts in ``X``.
    modality
        ``rna`` adds the mitochondrial percentage; ``atac`` with ``annotation_tss`` the promoter fraction.
    annotation_tss
        Optional table of TSSs (columns ``chrom``, ``pos``) for the ATAC promoter-fraction proxy.

    Returns
    -------
    DataFrame indexed like ``adata.obs`` with ``n_counts``, ``n_features`` and, where they apply,
    ``pct_mito`` (RNA) and ``frac_promoter`` (ATAC with peak coordinates and an annotation).
    """
    x = sp.csr_matrix(adata.X)
    totals = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
    out = pd.DataFrame(index=adata.obs_names)
    out[KEYS.n_counts] = totals
    out[KEYS.n_features] = np.asarray((x != 0).sum(axis=1)).ravel()
    safe = np.maximum(totals, 1.0)
    if modality == MODALITY_RNA:
        mito = np.fromiter(
            (bool(MITO_PATTERN.match(n)) for n in adata.var_names), dtype=bool, count=adata.n_vars
        )
        out[KEYS.pct_mito] = 100.0 * np.asarray(x[:, mito].sum(axis=1)).ravel() / safe
    if modality == MODALITY_ATAC and annotation_tss is not None:
        promoter = promoter_peaks(adata, annotation_tss)
        if promoter is not None:
            out[KEYS.frac_promoter] = np.asarray(x[:, promoter].sum(axis=1)).ravel() / safe
    return out


def _cell_masks(metrics: pd.DataFrame, thresholds: QCThresholds) -> dict[str, np.ndarray]:
    """One boolean keep-mask per active cell threshold."""
    masks: dict[str, np.ndarray] = {}
    counts = metrics[KEYS.n_counts].to_numpy()
    if thresholds.min_counts is not None:
        masks["min_counts"] = counts >= thresholds.min_counts
    if thresholds.min_features is not None:
        masks["min_features"] = metrics[KEYS.n_features].to_numpy() >= thresholds.min_features
    if thresholds.max_pct_mito is not None and KEYS.pct_mito in metrics:
        masks["max_pct_mito"] = metrics[KEYS.pct_mito].to_numpy() <= thresholds.max_pct_mito
    if thresholds.max_counts_quantile is not None:
        masks["max_counts_quantile"] = counts <= np.quantile(counts, thresholds.max_counts_quantile)
    return masks


def _medians(metrics: pd.DataFrame, suffix: str) -> dict[str, float]:
    return {
        f"median_{col}_{suffix}": float(metrics[col].median()) if len(metrics) else 0.0 for col in metrics
    }


def filter_cells(
    adata: AnnData, modality: str, thresholds: QCThresholds, *, annotation_tss: pd.DataFrame | None = None
) -> tuple[AnnData, dict[str, Any]]:
    """Filter cells, then features, of a raw-count AnnData.

    Parameters
    ----------
    adata
        Cells x features, raw counts in ``X``.
    modality
        Decides which metrics exist (see :func:`qc_metrics`).
    thresholds
        The filters to apply.
    annotation_tss
        Optional TSS table for the ATAC promoter fraction.

    Returns
    -------
    The filtered copy (``X`` CSR counts; ``obs`` gains the :func:`qc_metrics` columns) and a flat summary:
    cells and features in/out, each threshold, how many cells each threshold removed, medians before/after.

    Raises
    ------
    InputError
        When no cell passes, naming how many cells each threshold removed.
    """
    metrics = qc_metrics(adata, modality, annotation_tss=annotation_tss)
    masks = _cell_masks(metrics, thresholds)
    keep = np.logical_and.reduce(list(masks.values())) if masks else np.ones(adata.n_obs, dtype=bool)
    removed = {name: int((~m).sum()) for name, m in masks.items()}
    if not keep.any():
        detail = ", ".join(
            f"{n}={getattr(thresholds, n)} removed {k} of {adata.n_obs} cells" for n, k in removed.items()
        )
        culprit = max(removed, key=removed.get)
        option = "--" + culprit.replace("_", "-")
        msg = (
            f"QC removed every cell of this {modality} sample ({detail}). The threshold {culprit} removed "
            f"the most; lower it ({option}) or check that the file holds raw counts of the right modality."
        )
        raise InputError(msg)
    x = sp.csr_matrix(adata.X[keep])
    detected = np.bincount(x.indices[x.data != 0], minlength=x.shape[1])  # cells per feature
    min_cells = thresholds.min_cells_per_feature
    features = detected >= min_cells if min_cells else np.ones(adata.n_vars, dtype=bool)
    out = adata[keep, features].copy()
    out.X = sp.csr_matrix(x[:, features])
    for col in metrics:
        out.obs[col] = metrics.loc[out.obs_names, col].to_numpy()
    summary: dict[str, Any] = {
        "modality": modality,
        "cells_in": int(adata.n_obs),
        "cells_out": int(out.n_obs),
        "features_in": int(adata.n_vars),
        "features_out": int(out.n_vars),
        **{f"threshold_{k}": v for k, v in asdict(thresholds).items()},
        **{f"removed_{k}": removed.get(k, 0) for k in asdict(thresholds) if k != "min_cells_per_feature"},
        "removed_features_min_cells": int((~features).sum()),
        **_medians(metrics, "before"),
        **_medians(metrics[keep], "after"),
    }
    return out, summary


def run_qc(
    adata: AnnData,
    sample: str,
    modality: str,
    layout: Layout,
    thresholds: QCThresholds | None = None,
    *,
    annotation_tss: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """QC one sample and write ``qc/<sample>.qc.h5ad`` (filtered counts) and ``qc/<sample>.qc.json``.

    Returns
    -------
    The summary written to the JSON file (see :func:`filter_cells`), with ``sample`` added.
    """
    thresholds = thresholds or QCThresholds.defaults(modality)
    try:
        filtered, summary = filter_cells(adata, modality, thresholds, annotation_tss=annotation_tss)
    except InputError as err:
        msg = f"sample {sample!r}: {err}"
        raise InputError(msg) from None
    summary = {"sample": sample, **summary}
    write_h5ad(filtered, layout.qc_h5ad(sample))
    write_json(summary, layout.qc_json(sample))
    return summary
