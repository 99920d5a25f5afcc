"""Small matrix helpers shared by the priors: raw counts of an AnnData, log-normalisation."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS


def raw_counts(adata: AnnData) -> sp.csr_matrix:
    """Raw counts as float32 CSR: ``layers["counts"]`` when present (preprocessed input), else ``X``."""
    counts = adata.layers[KEYS.counts] if KEYS.counts in adata.layers else adata.X
    return sp.csr_matrix(counts, dtype=np.float32)


def normalise_total(counts: sp.csr_matrix, *, target_sum: float = 1e4) -> sp.csr_matrix:
    """Counts scaled to ``target_sum`` per cell (float32 CSR); all-zero cells stay zero."""
    totals = np.asarray(counts.sum(axis=1)).ravel()
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals, dtype=np.float64), where=totals > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ counts, dtype=np.float32)


def log_normalise(counts: sp.csr_matrix, *, target_sum: float = 1e4) -> sp.csr_matrix:
    """``log1p(counts / cell total * target_sum)``, sparse; all-zero cells stay zero."""
    out = normalise_total(counts, target_sum=target_sum)
    np.log1p(out.data, out=out.data)
    return out


def column_mean_sd(x: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of a sparse matrix, without densifying."""
    n = x.shape[0]
    mean = np.asarray(x.mean(axis=0), dtype=np.float64).ravel()
    sq = np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel() / n
    sd = np.sqrt(np.maximum(sq - mean**2, 0.0))
    return mean, sd


def top_variable(normalised: sp.csr_matrix, n: int) -> np.ndarray:
    """Column indices of the ``n`` most variable columns by Fano factor (variance / mean), in column order."""
    mean, sd = column_mean_sd(normalised)
    fano = np.divide(sd**2, mean, out=np.zeros_like(mean), where=mean > 0)
    if n >= normalised.shape[1]:
        return np.flatnonzero(fano > 0)
    return np.sort(np.argsort(-fano, kind="stable")[:n])
