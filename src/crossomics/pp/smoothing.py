"""kNN smoothing of a cell representation: each cell becomes the average of itself and its neighbours."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS
from .neighbors import knn_distances


def knn_indices(rep: np.ndarray | sp.spmatrix, n_neighbors: int) -> np.ndarray:
    """Indices (cells x ``n_neighbors``) of each cell's nearest cells (Euclidean), itself in every row: the
    exact search of :func:`crossomics.pp.neighbors.knn_distances`."""
    idx, _ = knn_distances(rep, n_neighbors)
    own = np.arange(rep.shape[0])
    # duplicated points may push a cell out of its own list: put it back in the last slot
    missing = ~(idx == own[:, None]).any(axis=1)
    idx[missing, -1] = own[missing]
    return idx


def knn_graph(idx: np.ndarray) -> sp.csr_matrix:
    """Row-normalised cells x cells graph with weight ``1/k`` on each of a cell's ``k`` neighbours."""
    n_cells, k = idx.shape
    data = np.full(idx.size, 1.0 / k)
    return sp.csr_matrix((data, idx.ravel(), np.arange(0, idx.size + 1, k)), shape=(n_cells, n_cells))


def knn_smooth(
    adata: AnnData,
    *,
    use_rep: str = KEYS.reduced,
    n_neighbors: int = 15,
    key_added: str = KEYS.smoothed,
) -> None:
    """Average a representation over each cell's ``n_neighbors`` nearest cells (itself included).

    Neighbours are found in the representation itself; dense or sparse inputs work (``use_rep="X"`` smooths
    ``adata.X``), and a sparse input gives a sparse result.

    Parameters
    ----------
    adata
        The AnnData holding the representation.
    use_rep
        Key in ``obsm``, or ``"X"``.
    n_neighbors
        Neighbours per cell, the cell itself included.
    key_added
        ``obsm`` key of the result.

    Returns
    -------
    Nothing; sets ``obsm[key_added]`` (same shape and sparsity as the input; float32 when dense).
    """
    rep = adata.X if use_rep == "X" else adata.obsm[use_rep]
    graph = knn_graph(knn_indices(rep, n_neighbors))
    if sp.issparse(rep):
        adata.obsm[key_added] = sp.csr_matrix(graph @ sp.csr_matrix(rep, dtype=np.float64))
    else:
        adata.obsm[key_added] = np.asarray(graph @ np.asarray(rep, dtype=np.float64), dtype=np.float32)
