"""Integration metrics: blockwise FOSCTTM equals the dense definition; known answers on toy data."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances

from crossomics.metrics import foscttm, integration_metrics, label_transfer_accuracy, modality_mixing


def _dense_foscttm(x, y):
    d = pairwise_distances(x, y)
    true = np.diag(d)
    return float(((d < true[:, None]).mean(1).mean() + (d < true[None, :]).mean(0).mean()) / 2)


def test_foscttm_blockwise_equals_dense():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6))
    y = x + rng.normal(scale=0.7, size=x.shape)
    assert abs(foscttm(x, y, block=37) - foscttm(x, y, block=5000)) < 1e-4
    assert abs(foscttm(x, y, block=37) - _dense_foscttm(x, y)) < 1e-3


def test_leiden_subsamples_large_inputs(monkeypatch):
    from crossomics.metrics import integration

    rng = np.random.default_rng(3)
    lab = np.repeat(np.array(["a", "b"]), 150)
    emb = np.where(lab[:, None] == "a", 0.0, 8.0) + rng.normal(size=(300, 4))
    assert integration.leiden_ari_nmi(emb, lab)["leiden_cells"] == 300
    monkeypatch.setattr(integration, "LEIDEN_MAX_CELLS", 120)
    out = integration.leiden_ari_nmi(emb, lab)
    assert out["leiden_cells"] == 120 and out["ari_leiden"] > 0.9


def test_leiden_sweep_has_scanpy_memberships_and_leaves_python_random_alone():
    """The graph is built once for the sweep; every resolution gives what ``scanpy.tl.leiden`` gives."""
    import random
    import warnings

    import anndata as ad
    import scanpy as sc

    from crossomics.metrics.integration import leiden_memberships
    from crossomics.pp.neighbors import neighbor_graph

    rng = np.random.default_rng(5)
    emb = np.vstack([rng.normal(loc=c, size=(150, 6)) for c in (0.0, 2.0, 4.0)]).astype(np.float32)
    graph = neighbor_graph(emb, n_neighbors=15)
    resolutions = [0.2, 0.7, 1.5]
    random.seed(11)
    expected_draw = random.random()
    random.seed(11)
    ours = leiden_memberships(graph, resolutions, seed=4)
    assert random.random() == expected_draw  # Python's global random stream untouched
    a = ad.AnnData(np.zeros((len(emb), 1), np.float32))
    for res, membership in zip(resolutions, ours):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.tl.leiden(a, resolution=res, key_added="cl", random_state=4, flavor="igraph", n_iterations=2, adjacency=graph)
        np.testing.assert_array_equal(a.obs["cl"].astype(int).to_numpy(), membership)
    assert len(set(ours[0])) < len(set(ours[-1]))


def test_foscttm_perfect_and_random():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 5))
    assert foscttm(x, x + 1e-3) < 1e-3
    assert 0.4 < foscttm(x, rng.normal(size=(400, 5))) < 0.6


def test_label_transfer_and_mixing():
    rng = np.random.default_rng(2)
    centers = rng.normal(scale=10, size=(3, 4))
    lab = np.repeat(np.array(["a", "b", "c"]), 100)
    a = centers[np.repeat(np.arange(3), 100)] + rng.normal(size=(300, 4))
    b = centers[np.repeat(np.arange(3), 100)] + rng.normal(size=(300, 4))
    assert label_transfer_accuracy(a, lab, b, lab) > 0.95
    # above max_queries, a seeded subset of the query cells is scored: the same cells for the same seed
    noisy = np.where(rng.random(300) < 0.3, "a", lab)  # query labels partly wrong: accuracy depends on the cells
    pick = np.sort(np.random.default_rng(4).choice(300, 50, replace=False))
    sub = label_transfer_accuracy(a, lab, b, noisy, seed=4, max_queries=50)
    assert sub == label_transfer_accuracy(a, lab, b[pick], noisy[pick])
    mixed = modality_mixing(np.vstack([a, b]), np.repeat(["m1", "m2"], 300), np.concatenate([lab, lab]))
    separated = modality_mixing(np.vstack([a, b + 50]), np.repeat(["m1", "m2"], 300), np.concatenate([lab, lab]))
    assert mixed > 0.9 and separated < 0.2


def test_integration_metrics_keys():
    rng = np.random.default_rng(3)
    centers = rng.normal(scale=8, size=(4, 5))
    idx = np.repeat(np.arange(4), 60)
    lab = idx.astype(str)
    a = centers[idx] + rng.normal(size=(240, 5))
    b = centers[idx] + rng.normal(size=(240, 5))
    out = integration_metrics({"r": a, "t": b}, {"r": lab, "t": lab}, pairs=[("r", "t", np.arange(240), np.arange(240))])
    for key in ("foscttm__r__t", "ari_leiden", "nmi_leiden", "asw_celltype", "modality_mixing", "label_transfer__r__t"):
        assert key in out
    assert out["ari_leiden"] > 0.8 and out["foscttm__r__t"] < 0.3
