"""Preprocessing on real data: kNN label accuracy of reductions, the AnnData contract, exact projection."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import knn_label_accuracy

from crossomics._keys import KEYS
from crossomics.pp.features import (
    NORM_IDENTITY,
    NORM_TFIDF,
    apply_reduction,
    detection_rate,
    normalise,
    preprocess,
    project,
    project_adata,
)
from crossomics.pp.qc import QCThresholds, filter_cells

PROJECTION_TOLERANCE = 1e-4


def _qc_and_preprocess(path, modality: str, **kwargs) -> ad.AnnData:
    filtered, _ = filter_cells(ad.read_h5ad(path), modality, QCThresholds.defaults(modality))
    return preprocess(filtered, modality, **kwargs)


@pytest.fixture(scope="module")
def snare(shared_data) -> dict[str, ad.AnnData]:
    """SNARE-seq RNA and ATAC, QC and preprocessing with defaults."""
    return {
        m: _qc_and_preprocess(shared_data / f"snare_chen2019_mouse_cortex_{m}.h5ad", m)
        for m in ("rna", "atac")
    }


@pytest.fixture(scope="module")
def eccite_adt(shared_data) -> ad.AnnData:
    return _qc_and_preprocess(shared_data / "eccite_pbmc_ctrl_adt.h5ad", "adt")


@pytest.mark.parametrize(("modality", "minimum"), [("rna", 0.75), ("atac", 0.45)])
def test_knn_on_reduction_predicts_cell_type(snare, modality, minimum):
    adata = snare[modality]
    accuracy = knn_label_accuracy(adata.obsm[KEYS.reduced], adata.obs[KEYS.cell_type])
    baseline = adata.obs[KEYS.cell_type].value_counts(normalize=True).max()
    print(f"SNARE {modality}: leave-one-out 15-NN accuracy {accuracy:.3f} (majority baseline {baseline:.3f})")
    assert accuracy >= minimum


@pytest.mark.parametrize("modality", ["rna", "atac"])
def test_reduction_is_the_stored_basis_applied(snare, modality):
    """preprocess reduces the values its PCA was fitted on as they are; they equal the basis applied anew."""
    adata = snare[modality]
    params = adata.uns[KEYS.preprocess]
    counts = adata.layers[KEYS.counts][:, adata.var[KEYS.highly_variable].to_numpy()]
    normalised = normalise(counts, params["norm"], target_sum=params["target_sum"], idf=params.get("idf"))
    np.testing.assert_array_equal(
        apply_reduction(normalised, params).astype(np.float32), adata.obsm[KEYS.reduced]
    )
    if "feature_mean" in params:  # a dense input is the caller's: scaled in a copy, not in place
        dense = normalised.toarray()
        kept = dense.copy()
        np.testing.assert_array_equal(apply_reduction(dense, params), apply_reduction(normalised, params))
        np.testing.assert_array_equal(dense, kept)


def test_detection_rate_is_scipys_mean(shared_data):
    """The peak frequencies that select ATAC features: SciPy's values to the bit, explicit zeros not counted."""
    counts = sp.csr_matrix(ad.read_h5ad(shared_data / "snare_chen2019_mouse_cortex_atac.h5ad").X)
    counts.data[::11] = 0
    np.testing.assert_array_equal(detection_rate(counts), np.asarray((counts != 0).mean(axis=0)).ravel())
    assert detection_rate(sp.csr_matrix((0, 3))).tolist() == [0.0, 0.0, 0.0]


def test_rna_contract(snare, shared_data):
    adata = snare["rna"]
    raw = ad.read_h5ad(shared_data / "snare_chen2019_mouse_cortex_rna.h5ad")
    params = adata.uns[KEYS.preprocess]
    assert sp.isspmatrix_csr(adata.layers[KEYS.counts])
    assert (adata.layers[KEYS.counts] != raw[:, adata.var_names].X).nnz == 0
    # X is log1p of counts per 10k over all genes
    np.testing.assert_allclose(np.expm1(adata.X[:50].toarray()).sum(axis=1), 1e4, rtol=1e-4)
    # fewer genes than the default 2,000 HVGs: all are used
    assert adata.var[KEYS.highly_variable].all() and len(params["features"]) == adata.n_vars
    assert adata.obsm[KEYS.reduced].shape == (adata.n_obs, 50)
    np.testing.assert_array_equal(adata.obsm[KEYS.pca], adata.obsm[KEYS.reduced])
    variances = adata.obsm[KEYS.reduced].var(axis=0)
    assert np.all(np.diff(variances) <= 1e-3 * variances[0])  # principal components, by decreasing variance
    assert params["norm"] == "log1p_cp10k" and params["loadings"].shape == (adata.n_vars, 50)


def test_atac_drops_the_depth_component(snare):
    adata = snare["atac"]
    params = adata.uns[KEYS.preprocess]
    assert params["norm"] == NORM_TFIDF and params["method"] == "lsi"
    assert abs(params["depth_spearman"]) > 0.5 and params["dropped_first_component"]
    depth = np.log1p(
        np.asarray(adata.layers[KEYS.counts][:, adata.var[KEYS.highly_variable].to_numpy()].sum(1))
    )
    kept_first = pd.Series(adata.obsm[KEYS.lsi][:, 0]).corr(pd.Series(depth.ravel()), method="spearman")
    assert abs(kept_first) < abs(params["depth_spearman"])
    reduced = adata.obsm[KEYS.reduced]
    # LSI rows are L2-normalised to length sqrt(n_comps) (unit mean square per component)
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), np.sqrt(reduced.shape[1]), rtol=1e-4)
    assert sp.issparse(adata.X) and sp.issparse(adata.layers[KEYS.counts])


def _roundtrip(adata: ad.AnnData, tmp_path) -> ad.AnnData:
    adata.write_h5ad(tmp_path / "x.h5ad")
    return ad.read_h5ad(tmp_path / "x.h5ad")


@pytest.mark.parametrize("modality", ["rna", "atac"])
def test_project_reproduces_obsm_after_h5ad_roundtrip(snare, tmp_path, modality):
    stored = _roundtrip(snare[modality], tmp_path)
    params = stored.uns[KEYS.preprocess]
    order = np.random.default_rng(0).permutation(stored.n_vars)  # features picked by name, not position
    shuffled = ad.AnnData(stored.layers[KEYS.counts][:, order], var=stored.var.iloc[order])
    projected, n_missing = project_adata(shuffled, params)
    assert n_missing == 0
    np.testing.assert_allclose(projected, stored.obsm[KEYS.reduced], rtol=0, atol=PROJECTION_TOLERANCE)
    # rows do not depend on the other cells: a subset projects to the same rows
    cells = np.arange(0, stored.n_obs, 97)
    subset, _ = project_adata(stored[cells], params, layer=KEYS.counts)
    np.testing.assert_allclose(subset, stored.obsm[KEYS.reduced][cells], rtol=0, atol=PROJECTION_TOLERANCE)


def test_adt_clr_pca_and_projection(eccite_adt, tmp_path):
    stored = _roundtrip(eccite_adt, tmp_path)
    params = stored.uns[KEYS.preprocess]
    assert params["norm"] == "clr" and stored.var[KEYS.highly_variable].all()
    assert stored.obsm[KEYS.reduced].shape == (stored.n_obs, stored.n_vars - 1)  # capped at features - 1
    np.testing.assert_allclose(np.asarray(stored.X).mean(axis=1), 0, atol=1e-6)  # CLR: centred per cell
    counts = stored.layers[KEYS.counts][:, stored.var_names.get_indexer(params["features"])]
    np.testing.assert_allclose(
        project(counts, params), stored.obsm[KEYS.reduced], rtol=0, atol=PROJECTION_TOLERANCE
    )


def test_hvgs_and_projection_from_hvg_counts_only(shared_data):
    """Generated cells carry only the model's features: projection must not need the other genes."""
    raw = ad.read_h5ad(shared_data / "eccite_pbmc_ctrl_rna.h5ad")
    filtered, _ = filter_cells(raw, "rna", QCThresholds.defaults("rna"))
    adata = preprocess(filtered, "rna", n_top_features=500, n_comps=20, seed=3)
    params = adata.uns[KEYS.preprocess]
    hvg = adata.var_names[adata.var[KEYS.highly_variable]]
    assert len(hvg) == 500 and list(params["features"]) == hvg.tolist()
    assert {"LYZ", "S100A8"} <= set(hvg)  # classic, strongly variable PBMC genes
    projected = project(adata.layers[KEYS.counts][:, adata.var[KEYS.highly_variable].to_numpy()], params)
    np.testing.assert_allclose(projected, adata.obsm[KEYS.reduced], rtol=0, atol=PROJECTION_TOLERANCE)


def test_project_adata_fills_missing_features_with_zeros(eccite_adt):
    params = eccite_adt.uns[KEYS.preprocess]
    counts = eccite_adt.layers[KEYS.counts]
    missing = ["CD4", "CD8"]
    keep = ~eccite_adt.var_names.isin(missing)
    assert set(missing) <= set(eccite_adt.var_names)
    projected, n_missing = project_adata(eccite_adt[:, keep], params, layer=KEYS.counts)
    zeroed = counts.toarray()
    zeroed[:, ~keep] = 0
    assert n_missing == len(missing)
    np.testing.assert_allclose(projected, project(zeroed, params), atol=1e-10)
    with pytest.raises(ValueError, match="expects 49 features"):
        project(counts[:, :10], params)


def test_generic_modalities_choose_their_path():
    rng = np.random.default_rng(0)
    binary = sp.csr_matrix((rng.random((120, 300)) < 0.1).astype(np.int32))
    methylation = preprocess(ad.AnnData(binary), "methylation", n_comps=10, seed=5)
    assert methylation.uns[KEYS.preprocess]["norm"] == NORM_TFIDF and KEYS.lsi in methylation.obsm
    again = preprocess(ad.AnnData(binary), "methylation", n_comps=10, seed=5)
    np.testing.assert_array_equal(again.obsm[KEYS.reduced], methylation.obsm[KEYS.reduced])  # seeded
    lognorm = ad.AnnData(rng.normal(1.0, 0.5, (120, 40)).astype(np.float32))
    identity = preprocess(lognorm, "rna_lognorm", n_comps=10)
    assert identity.uns[KEYS.preprocess]["norm"] == NORM_IDENTITY
    np.testing.assert_allclose(
        project(lognorm.X, identity.uns[KEYS.preprocess]),
        identity.obsm[KEYS.reduced],
        atol=PROJECTION_TOLERANCE,
    )


def test_cli_preprocess_writes_the_contract(shared_data, tmp_path, run_cli):
    raw = ad.read_h5ad(shared_data / "snare_chen2019_mouse_cortex_atac.h5ad")[:800]
    (tmp_path / "qc").mkdir()
    raw.write_h5ad(tmp_path / "qc" / "atac1.qc.h5ad")
    args = ["--input", tmp_path / "qc" / "atac1.qc.h5ad", "--sample", "atac1", "--modality", "atac"]
    result = run_cli("preprocess", *args, "--outdir", tmp_path, "--n-comps", "15", "--n-top-features", "5000")
    assert result.exit_code == 0, result.output
    out = ad.read_h5ad(tmp_path / "preprocess" / "atac1.h5ad")
    params = out.uns[KEYS.preprocess]
    assert out.var[KEYS.highly_variable].sum() == len(params["features"]) == 5000
    assert out.obsm[KEYS.reduced].shape == (800, 15)
    for key in ("modality", "norm", "target_sum", "idf", "loadings", "comp_mean", "comp_scale"):
        assert key in params
    assert out.obs[KEYS.cell_type].equals(raw.obs[KEYS.cell_type])
