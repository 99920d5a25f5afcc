"""kNN smoothing: graph shape, the cell itself among its neighbours, sparse input, cell-type signal kept."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp
from conftest import knn_label_accuracy

from crossomics._keys import KEYS
from crossomics.pp.features import preprocess
from crossomics.pp.qc import QCThresholds, filter_cells
from crossomics.pp.smoothing import knn_graph, knn_indices, knn_smooth


def test_graph_rows_average_self_and_neighbours():
    rep = np.array([[0.0], [0.0], [0.0], [10.0], [11.0], [30.0]])  # three identical points
    idx = knn_indices(rep, 3)
    assert idx.shape == (6, 3)
    assert all(i in row for i, row in enumerate(idx))  # itself, even among duplicates
    graph = knn_graph(idx)
    np.testing.assert_allclose(np.asarray(graph.sum(axis=1)).ravel(), 1.0)
    assert graph.nnz == 18
    adata = ad.AnnData(np.zeros((6, 1)), obsm={KEYS.reduced: rep})
    knn_smooth(adata, n_neighbors=3)
    np.testing.assert_allclose(adata.obsm[KEYS.smoothed][:3, 0], 0.0)
    np.testing.assert_allclose(adata.obsm[KEYS.smoothed][5, 0], (30 + 11 + 10) / 3, rtol=1e-6)


def test_sparse_input_gives_the_sparse_average():
    rng = np.random.default_rng(1)
    x = sp.random(200, 80, density=0.1, format="csr", random_state=2, dtype=np.float64)
    adata = ad.AnnData(x)
    knn_smooth(adata, use_rep="X", n_neighbors=5, key_added="X_smooth")
    smoothed = adata.obsm["X_smooth"]
    assert sp.issparse(smoothed) and smoothed.shape == x.shape
    dense = x.toarray()
    idx = knn_indices(dense, 5)
    cell = int(rng.integers(200))
    np.testing.assert_allclose(smoothed[cell].toarray().ravel(), dense[idx[cell]].mean(axis=0), atol=1e-12)


def test_smoothing_keeps_cell_type_signal_on_snare_rna(shared_data):
    raw = ad.read_h5ad(shared_data / "snare_chen2019_mouse_cortex_rna.h5ad")
    filtered, _ = filter_cells(raw, "rna", QCThresholds.defaults("rna"))
    adata = preprocess(filtered, "rna")
    knn_smooth(adata, n_neighbors=15)
    smoothed = adata.obsm[KEYS.smoothed]
    assert smoothed.shape == adata.obsm[KEYS.reduced].shape and smoothed.dtype == np.float32
    before = knn_label_accuracy(adata.obsm[KEYS.reduced], adata.obs[KEYS.cell_type])
    after = knn_label_accuracy(smoothed, adata.obs[KEYS.cell_type])
    print(f"SNARE RNA 15-NN accuracy: PCA {before:.3f}, kNN-smoothed PCA {after:.3f}")
    assert after >= before


def test_encoder_smoothing_graph_is_kept_for_the_same_cells(monkeypatch):
    """The same cells (by content) get their kept graph back, as a copy; other cells are searched."""
    from crossomics.model import inputs

    searched = []
    monkeypatch.setattr(
        inputs, "knn_indices", lambda rep, k: searched.append(rep.shape) or knn_indices(rep, k)
    )
    rep = np.random.default_rng(20261127).standard_normal((300, 8)).astype(np.float32)
    expected = knn_graph(knn_indices(rep, 15))
    first = inputs.smoothing_graph(rep, 15)
    first.data[:] = 0.0  # a caller's change stays its own
    again = inputs.smoothing_graph(rep.copy(), 15)
    assert searched == [(300, 8)]
    assert (again != expected).nnz == 0
    inputs.smoothing_graph(rep[::-1].copy(), 15)
    inputs.smoothing_graph(rep, 10)
    assert len(searched) == 3
