"""The torch UMAP layout: separates clusters, keeps neighbours, same seed same picture."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

from crossomics.pp.neighbors import neighbor_graph
from crossomics.tl.umap import REPULSION_EPS, curve_parameters, layout_gradient, pca_start, umap_layout


def clusters(seed: int = 0, n: int = 600, dim: int = 16, k: int = 4):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, k, n)
    return (rng.normal(scale=6, size=(k, dim))[lab] + rng.normal(size=(n, dim))).astype(np.float32), lab


def neighbour_overlap(x: np.ndarray, y: np.ndarray, k: int = 15) -> float:
    a = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(x, return_distance=False)
    b = NearestNeighbors(n_neighbors=k).fit(y).kneighbors(y, return_distance=False)
    return float(np.mean([len(set(p) & set(q)) / k for p, q in zip(a, b)]))


def test_curve_parameters_of_scanpys_defaults():
    a, b = curve_parameters(0.5, 1.0)
    assert abs(a - 0.583) < 0.01 and abs(b - 1.334) < 0.01  # umap-learn's published values for 0.5 / 1.0


def test_layout_separates_clusters_and_keeps_neighbours():
    x, lab = clusters()
    xy = umap_layout(x, neighbor_graph(x), seed=0)
    assert xy.shape == (600, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    assert silhouette_score(xy, lab) > 0.6
    # the optimisation keeps more of each cell's 15 neighbours than its start (0.245) or chance (1/15)
    assert neighbour_overlap(x, xy) > 0.3 > neighbour_overlap(x, pca_start(x, 0)) + 0.05


def test_layout_is_reproducible_and_seeded():
    x, _ = clusters(seed=1, n=200)
    g = neighbor_graph(x)
    a = umap_layout(x, g, seed=0, n_epochs=50)
    assert np.array_equal(a, umap_layout(x, g, seed=0, n_epochs=50))
    assert not np.array_equal(a, umap_layout(x, g, seed=1, n_epochs=50))


def test_tiny_and_degenerate_inputs():
    x = np.zeros((2, 3), np.float32)
    assert umap_layout(x, neighbor_graph(x), seed=0).shape == (2, 2)
    same = np.ones((30, 4), np.float32)  # identical cells: finite, and they do not stay on one point
    xy = umap_layout(same, neighbor_graph(same), seed=0, n_epochs=20)
    assert np.isfinite(xy).all() and xy.std(0).min() > 0
    line = np.random.default_rng(0).normal(size=(50, 1)).astype(np.float32)
    assert umap_layout(line, neighbor_graph(line), seed=0, n_epochs=20).shape == (50, 2)
    no_edges = neighbor_graph(line, n_neighbors=1)  # each cell's only neighbour is itself
    assert no_edges.nnz == 0 and umap_layout(line, no_edges, seed=0).shape == (50, 2)


def test_written_out_gradient_is_the_objectives():
    """layout_gradient equals autograd's gradient of UMAP's objective (attraction over the edges, repulsion over
    the negative pairs except a cell with itself, over the number of edges)."""
    gen = torch.Generator().manual_seed(0)
    xy = torch.randn(40, 2, generator=gen, dtype=torch.float64) * 3
    head, tail = torch.randint(40, (60,), generator=gen), torch.randint(40, (60,), generator=gen)
    neg_head = head.repeat(5)
    neg_tail = torch.randint(40, (300,), generator=gen)
    neg_tail[:7] = neg_head[:7]  # some pairs of a cell with itself
    a, b = curve_parameters(0.5, 1.0)
    x = xy.clone().requires_grad_(True)
    d2 = ((x[head] - x[tail]) ** 2).sum(1)
    nd2 = ((x[neg_head] - x[neg_tail]) ** 2).sum(1) + REPULSION_EPS
    repel = torch.log1p(a * nd2.pow(b)) - torch.log(a * nd2.pow(b))
    ((torch.log1p(a * d2.pow(b)).sum() + repel[neg_head != neg_tail].sum()) / len(head)).backward()
    got = layout_gradient(xy, head, tail, neg_head, neg_tail, a, b)
    assert torch.allclose(got, x.grad, rtol=1e-9, atol=1e-12)
    assert got.abs().sum() > 0
