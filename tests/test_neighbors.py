"""The fuzzy neighbour graph: UMAP's definition, checked against a cell-by-cell reference."""

from __future__ import annotations

import numpy as np
import pytest

from crossomics.pp.neighbors import bandwidths, knn_distances, neighbor_graph


def reference_graph(x: np.ndarray, k: int) -> np.ndarray:
    """UMAP's fuzzy union written out cell by cell (dense, loops): rho = nearest other cell's distance,
    sigma by bisection so that the memberships of the k - 1 other neighbours sum to log2(k)."""
    n = len(x)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    w = np.zeros((n, n))
    for i in range(n):
        order = np.argsort(d[i], kind="stable")[:k]
        dist = d[i, order]
        rho = dist[dist > 0].min()
        lo, hi = 0.0, np.inf
        sigma = 1.0
        for _ in range(64):
            total = sum(np.exp(-max(v - rho, 0) / sigma) for v in dist[1:])
            if abs(total - np.log2(k)) < 1e-5:
                break
            if total > np.log2(k):
                hi = sigma
                sigma = (lo + hi) / 2
            else:
                lo = sigma
                sigma = sigma * 2 if np.isinf(hi) else (lo + hi) / 2
        sigma = max(sigma, 1e-3 * dist.mean())
        for j, v in zip(order, dist):
            if j != i:
                w[i, j] = np.exp(-max(v - rho, 0) / sigma)
    return w + w.T - w * w.T


def test_graph_matches_the_cell_by_cell_definition():
    x = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    got = neighbor_graph(x, n_neighbors=8).toarray()
    np.testing.assert_allclose(got, reference_graph(x.astype(np.float64), 8), atol=2e-5)


def test_graph_is_symmetric_with_an_empty_diagonal_and_a_full_nearest_edge():
    x = np.random.default_rng(1).normal(size=(300, 10)).astype(np.float32)
    g = neighbor_graph(x, n_neighbors=15)
    assert abs(g - g.T).max() < 1e-6
    assert g.diagonal().max() == 0
    assert g.data.min() > 0 and g.data.max() <= 1 + 1e-6
    idx, _ = knn_distances(x, 2)
    assert np.allclose(g[np.arange(300), idx[:, 1]].A1, 1.0)
    # every cell keeps at least its k - 1 neighbours
    assert (np.diff(g.indptr) >= 14).all()


@pytest.mark.parametrize("k", [5, 15, 30])
def test_bandwidth_hits_the_target_sum(k):
    x = np.random.default_rng(2).normal(size=(200, 4))
    _, dist = knn_distances(x, k)
    rho, sigma = bandwidths(dist)
    total = np.exp(-np.maximum(dist[:, 1:] - rho[:, None], 0) / sigma[:, None]).sum(1)
    np.testing.assert_allclose(total, np.log2(k), atol=1e-4)


def test_duplicated_cells_get_finite_weights():
    x = np.repeat(np.random.default_rng(3).normal(size=(20, 3)), 3, axis=0)
    g = neighbor_graph(x, n_neighbors=6)
    assert np.isfinite(g.data).all() and g.data.max() <= 1 + 1e-6
