"""Cross-modal anchors: mutual nearest neighbours in a CCA space, scored by neighbourhood consistency.

1. **Shared space** (Seurat-style CCA): the two cells x shared-features matrices are standardised per
   feature; the top singular vectors of their cross-product ``Za @ Zb.T`` (never formed: randomized SVD on
   the operator) give each cell a canonical embedding, L2-normalised per cell.
2. **Mutual kNN**: ``(a, b)`` is a candidate when ``b`` is among ``a``'s ``k`` nearest B cells and ``a``
   among ``b``'s ``k`` nearest A cells.
3. **Score**: a pair is trusted when the two cells' *own* neighbourhoods (each modality's own space:
   RNA PCA, ATAC LSI, ...) are linked by the cross-modal kNN graph. With ``N_A(a)`` the ``k_score`` own
   neighbours of ``a`` and ``C(x)`` the ``k_cross`` cross-modal neighbours of ``x``, the score is the mean
   over the two directions of the fraction of cross edges leaving one neighbourhood that land in the
   other, e.g. ``f = sum_{x in N_A(a)} |C(x) & N_B(b)| / (k_score * k_cross)``, corrected for chance
   (a random cell set of the size of ``N_B(b)`` catches ``p = k_score / n_b`` of the edges):
   ``(f - p) / (1 - p)``, floored at 0. The score lies in [0, 1]: 0 for random pairs, 1 when every cross edge
   of one neighbourhood lands in the other. Pairs below ``min_score`` are dropped.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError
from ._embed import knn
from ._linalg import Standardised, l2_rows, randomized_svd

log = logging.getLogger("crossomics")

SCORE_CHUNK = 10_000  # cells per block of the neighbourhood product (bounds its memory)


def cca(
    shared_a: sp.csr_matrix, shared_b: sp.csr_matrix, *, n_comps: int = 20, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Canonical cell embeddings of two cells x features matrices (same columns), rows L2-normalised.

    Returns
    -------
    ``(embedding_a, embedding_b)``, cells x ``n_comps`` each.
    """
    za, zb = Standardised.of(shared_a), Standardised.of(shared_b)
    n_comps = max(1, min(n_comps, shared_a.shape[1] - 1, shared_a.shape[0] - 1, shared_b.shape[0] - 1))
    u, _, v = randomized_svd(
        lambda m: za.dot(zb.tdot(m)),
        lambda n: zb.dot(za.tdot(n)),
        (shared_a.shape[0], shared_b.shape[0]),
        n_comps,
        seed=seed,
    )
    return l2_rows(u), l2_rows(v)


def find_anchors(
    shared_a: sp.csr_matrix,
    shared_b: sp.csr_matrix,
    own_a: np.ndarray,
    own_b: np.ndarray,
    *,
    k: int = 20,
    k_score: int = 30,
    k_cross: int = 20,
    n_comps: int = 20,
    min_score: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Anchors between the cells of two datasets (see the module docstring).

    Parameters
    ----------
    shared_a, shared_b
        Cells x shared features, log-normalised, the same columns in the same order.
    own_a, own_b
        Each dataset's own embedding (cells x dims), e.g. from :func:`crossomics.priors._embed.own_space`.
    k
        Neighbours for the mutual-nearest-neighbour test.
    k_score, k_cross
        Own-space and cross-modal neighbours used by the score.
    n_comps
        CCA components.
    min_score
        Least score kept.
    seed
        Seed of the randomized SVD.

    Returns
    -------
    Columns ``cell_a``, ``cell_b`` (row positions) and ``score``, best first.
    """
    if shared_a.shape[1] != shared_b.shape[1] or shared_a.shape[1] < 2:
        msg = (
            "anchors need at least 2 shared features in the same order, got "
            f"{shared_a.shape[1]} and {shared_b.shape[1]}."
        )
        raise InputError(msg)
    started = time.perf_counter()
    emb_a, emb_b = cca(shared_a, shared_b, n_comps=n_comps, seed=seed)
    n_a, n_b = emb_a.shape[0], emb_b.shape[0]
    wide = max(k, k_cross)
    a_to_b = knn(emb_b, emb_a, wide)
    b_to_a = knn(emb_a, emb_b, wide)
    cell_a, cell_b = _mutual(a_to_b[:, :k], b_to_a[:, :k], n_a, n_b)
    own_nn_a = knn(own_a, own_a, k_score)
    own_nn_b = knn(own_b, own_b, k_score)
    into_b = _links(own_nn_a, a_to_b[:, :k_cross], own_nn_b, cell_a, cell_b, n_b)
    into_a = _links(own_nn_b, b_to_a[:, :k_cross], own_nn_a, cell_b, cell_a, n_a)
    edges_a = own_nn_a.shape[1] * min(k_cross, a_to_b.shape[1])  # cross edges leaving a neighbourhood
    edges_b = own_nn_b.shape[1] * min(k_cross, b_to_a.shape[1])
    score = 0.5 * (
        _above_chance(into_b / edges_a, own_nn_b.shape[1] / n_b)
        + _above_chance(into_a / edges_b, own_nn_a.shape[1] / n_a)
    )
    keep = score >= min_score
    anchors = pd.DataFrame({"cell_a": cell_a[keep], "cell_b": cell_b[keep], "score": score[keep]})
    anchors = anchors.sort_values(
        ["score", "cell_a", "cell_b"], ascending=[False, True, True], ignore_index=True
    )
    log.info(
        "anchors: %d mutual pairs, %d with score >= %g (%.1f s)",
        len(cell_a),
        len(anchors),
        min_score,
        time.perf_counter() - started,
    )
    return anchors


def _links(
    own_nn: np.ndarray,
    cross: np.ndarray,
    other_nn: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    n_other: int,
) -> np.ndarray:
    """Per pair ``(rows[i], cols[i])``: cross edges from ``rows[i]``'s own neighbourhood into ``cols[i]``'s.

    ``(own_nn @ cross)[r, y]`` counts the edges from ``r``'s neighbours to cell ``y``; summed over ``y`` in
    ``other_nn[c]``. The product is built for blocks of rows and read at the pairs' positions by binary
    search, so memory stays bounded for 100k-cell inputs.
    """
    n_rows = own_nn.shape[0]
    cross_matrix = _adjacency(cross, n_other)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    links = np.zeros(len(rows))
    for lo in range(0, n_rows, SCORE_CHUNK):
        hi = min(lo + SCORE_CHUNK, n_rows)
        pairs = order[np.searchsorted(sorted_rows, lo) : np.searchsorted(sorted_rows, hi)]
        if len(pairs) == 0:
            continue
        block = (_adjacency(own_nn[lo:hi], n_rows) @ cross_matrix).tocsr()
        block.sum_duplicates()  # canonical: sorted column indices per row
        keys = np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(block.indptr)) * n_other + block.indices
        query = np.repeat(rows[pairs] - lo, other_nn.shape[1]) * n_other + other_nn[cols[pairs]].ravel()
        pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        found = np.where(keys[pos] == query, block.data[pos], 0.0)
        links[pairs] = found.reshape(len(pairs), other_nn.shape[1]).sum(axis=1)
    return links


def _above_chance(fraction: np.ndarray, chance: np.ndarray) -> np.ndarray:
    """``(fraction - chance) / (1 - chance)``, floored at 0: 0 for a random pair, 1 for a perfect one."""
    return np.maximum(fraction - chance, 0.0) / np.maximum(1.0 - chance, 1e-12)


def _mutual(a_to_b: np.ndarray, b_to_a: np.ndarray, n_a: int, n_b: int) -> tuple[np.ndarray, np.ndarray]:
    forward = _adjacency(a_to_b, n_b)
    backward = _adjacency(b_to_a, n_a).T.tocsr()
    both = forward.multiply(backward).tocoo()
    return both.row.astype(np.int64), both.col.astype(np.int64)


def _adjacency(indices: np.ndarray, n_columns: int) -> sp.csr_matrix:
    """Binary rows x ``n_columns`` matrix with ones at each row's neighbour indices."""
    rows = np.repeat(np.arange(indices.shape[0]), indices.shape[1])
    ones = np.ones(rows.size, dtype=np.float32)
    matrix = sp.csr_matrix((ones, (rows, indices.ravel())), shape=(indices.shape[0], n_columns))
    matrix.data[:] = 1.0
    return matrix
