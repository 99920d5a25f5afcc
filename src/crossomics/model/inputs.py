"""Encoder inputs of one domain, built the same way for training cells, new cells and perturbed cells.

Input = the sample's reduced representation (``project`` with the loadings fitted at preprocessing, never
re-fitted) followed by its kNN-smoothed copy (scCross's smoothed inputs), computed among the cells given.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np
import scipy.sparse as sp
from anndata import AnnData
from anndata.abc import CSRDataset

from .._keys import KEYS
from ..errors import InputError
from ..io.backed import BackedCounts, Counts, row_blocks
from ..pp.features import project
from ..pp.smoothing import knn_graph, knn_indices

RECENT_GRAPHS = 4  # smoothing graphs kept in the process, by the content of the cells' reduced representation
_recent_graphs: OrderedDict[tuple, sp.csr_matrix] = OrderedDict()


def smoothing_graph(reduced: np.ndarray, n_neighbors: int) -> sp.csr_matrix | None:
    """Row-normalised kNN graph of the cells (itself included), or None when smoothing is off.

    The search is exact, so the same cells give the same graph: the last :data:`RECENT_GRAPHS` graphs are kept
    by the content of ``reduced`` (a copy is returned). ``crossomics run``'s perturb stage thus takes a
    sample's graph from its train stage instead of searching again (100,000 cells: 27 s with 2 threads).
    """
    if n_neighbors <= 1 or reduced.shape[0] < 2:
        return None
    rep = np.ascontiguousarray(reduced)
    key = (n_neighbors, rep.shape, rep.dtype.str, hashlib.blake2b(rep, digest_size=16).hexdigest())
    graph = _recent_graphs.pop(key, None)
    if graph is None:
        graph = knn_graph(knn_indices(rep, min(n_neighbors, rep.shape[0])))
    _recent_graphs[key] = graph
    while len(_recent_graphs) > RECENT_GRAPHS:
        _recent_graphs.popitem(last=False)
    return graph.copy()


def encoder_inputs(reduced: np.ndarray, graph: sp.csr_matrix | None) -> np.ndarray:
    """Concatenate the reduced representation and its average over ``graph`` (when smoothing is on).

    Pass the graph of the unperturbed cells when encoding perturbed copies, so only the features change.
    """
    reduced = np.asarray(reduced, dtype=np.float32)
    if graph is None:
        return reduced
    return np.hstack([reduced, np.asarray(graph @ reduced, dtype=np.float32)])


def select_counts(adata: AnnData, features: list[str], *, source: str) -> tuple[Counts, int]:
    """Raw counts of ``features`` (in that order) from ``layers["counts"]`` or ``X``; zeros for missing ones.

    Returns the matrix and how many features were missing. Counts kept on disk (``--backed``) stay there
    when ``features`` are the file's own features in order (as a :class:`crossomics.io.backed.BackedCounts`);
    any other selection of them is read into memory a block of rows at a time.
    """
    mat = adata.layers[KEYS.counts] if KEYS.counts in adata.layers else adata.X
    if not adata.var_names.is_unique:
        dup = ", ".join(map(repr, adata.var_names[adata.var_names.duplicated()].unique()[:3]))
        msg = f"{source}: duplicated feature names ({dup}). Fix: make names unique (var_names_make_unique) or drop duplicates."
        raise InputError(msg)
    names = np.asarray(features, dtype=str)
    pos = adata.var_names.get_indexer(names)
    present = np.flatnonzero(pos >= 0)
    if present.size == 0:
        msg = (
            f"{source}: none of the model's {len(names)} features are in this data "
            f"(first expected: {', '.join(names[:3])}; first found: {', '.join(map(str, adata.var_names[:3]))}). "
            "Give data of the modality the model was trained on, with the same feature names."
        )
        raise InputError(msg)
    own_order = present.size == adata.n_vars == names.size and (pos == np.arange(names.size)).all()
    if isinstance(mat, CSRDataset):
        backed = BackedCounts(mat)
        if own_order:
            return backed, 0  # written by `crossomics preprocess`, whose counts were validated
        mat = backed
    # 100k cells x 50k peaks: a float32 copy 0.3 s, picking columns 1.7 s, the selector product 6 s
    if own_order:
        parts = [sp.csr_matrix(b).astype(np.float32) for b in row_blocks(mat)]
    elif present.size == names.size:
        parts = [sp.csr_matrix(b)[:, pos].astype(np.float32) for b in row_blocks(mat)]
    else:
        selector = sp.csr_matrix(
            (np.ones(present.size), (pos[present], present)), shape=(adata.n_vars, names.size)
        )
        parts = [sp.csr_matrix(sp.csr_matrix(b) @ selector, dtype=np.float32) for b in row_blocks(mat)]
    counts = parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")
    bad = ~np.isfinite(counts.data)
    if bad.any():
        cell = adata.obs_names[np.searchsorted(counts.indptr, np.flatnonzero(bad)[0], side="right") - 1]
        msg = (
            f"{source}: {int(bad.sum()):,} values are NaN or infinite (e.g. at cell '{cell}'). "
            "Fix: give the measured raw counts; NaN/inf are never valid."
        )
        raise InputError(msg)
    return counts, int(names.size - present.size)


def reduced_from_counts(counts: sp.spmatrix | np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The reduced representation of raw ``counts`` (columns in ``params["features"]`` order)."""
    return project(counts, params).astype(np.float32)


def stored_reduction(adata: AnnData, params: dict[str, Any]) -> np.ndarray | None:
    """``obsm["X_reduced"]`` (float32) when ``adata`` was preprocessed with exactly ``params``: then it is what
    :func:`reduced_from_counts` computes from the sample's counts (100k ATAC cells: 6 s to recompute). ``None``
    for any other input (raw counts, or a sample preprocessed with another fit)."""
    stored = adata.obsm.get(KEYS.reduced)
    own = adata.uns.get(KEYS.preprocess)
    if stored is None or own is None or set(own) != set(params):
        return None
    for key, value in params.items():
        a, b = np.asarray(own[key]), np.asarray(value)
        if a.dtype.kind in "OUS" or b.dtype.kind in "OUS":
            a, b = a.astype(str), b.astype(str)
        if not np.array_equal(a, b):
            return None
    return np.asarray(stored, dtype=np.float32)
