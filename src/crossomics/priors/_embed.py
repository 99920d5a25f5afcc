"""Each modality's own low-dimensional space, and exact k-nearest-neighbour search."""

from __future__ import annotations

import numpy as np
from anndata import AnnData

from .._keys import KEYS, MODALITY_ATAC
from ..pp.features import NORM_TFIDF, normalise
from ._linalg import Standardised, l2_rows, randomized_svd
from ._matrix import log_normalise, raw_counts, top_variable


def own_space(
    adata: AnnData, modality: str, *, n_comps: int = 30, n_features: int = 2000, seed: int = 0
) -> np.ndarray:
    """A modality's own cell embedding, rows L2-normalised.

    ``obsm["X_reduced"]`` when the input is preprocessed; otherwise LSI for ATAC (binarised TF-IDF, SVD,
    first component dropped as it tracks depth) and PCA of the standardised log-normalised ``n_features``
    most variable features for every other modality.
    """
    if KEYS.reduced in adata.obsm and np.shape(adata.obsm[KEYS.reduced])[1] >= 2:
        return l2_rows(np.asarray(adata.obsm[KEYS.reduced], dtype=np.float64))
    counts = raw_counts(adata)
    n_comps = max(1, min(n_comps, min(counts.shape) - 2))
    if modality == MODALITY_ATAC:
        binary = counts.copy()
        binary.data[:] = 1.0
        idf = binary.shape[0] / (1.0 + np.asarray(binary.sum(axis=0)).ravel())
        tfidf = normalise(binary, NORM_TFIDF, target_sum=1e4, idf=idf)
        u, s, _ = randomized_svd(
            lambda m: tfidf @ m, lambda n: tfidf.T @ n, tfidf.shape, n_comps + 1, seed=seed
        )
        return l2_rows(u[:, 1:] * s[1:])
    logexpr = log_normalise(counts)
    z = Standardised.of(logexpr[:, top_variable(logexpr, n_features)])
    u, s, _ = randomized_svd(z.dot, z.tdot, z.x.shape, n_comps, seed=seed)
    return l2_rows(u * s)


def knn(reference: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Indices (query rows x ``k``) of each query row's nearest reference rows (Euclidean), nearest first.

    Exact brute-force search in float32 by scikit-learn, in memory-bounded chunks: 100k x 100k cells in
    20 dimensions take about half a minute on two cores, with no compilation step (unlike pynndescent).
    """
    from sklearn.neighbors import NearestNeighbors

    k = min(k, reference.shape[0])
    index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(np.asarray(reference, dtype=np.float32))
    return index.kneighbors(np.asarray(query, dtype=np.float32), return_distance=False)
