"""--backed: training reads its minibatch counts from disk and gives exactly the in-memory results."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from _train_demo import SAMPLES, copy_inputs, sheet_for, train_demo
from anndata.abc import CSRDataset

from crossomics.io.backed import BackedCounts, column_sums, max_value, row_sums
from crossomics.io.layout import Layout
from crossomics.io.read import read_preprocessed
from crossomics.io.samplesheet import read_samplesheet
from crossomics.model import CrossModel
from crossomics.model.inputs import select_counts
from crossomics.model.train_step import load_preprocessed


@pytest.fixture
def preprocessed_atac(demo_run):
    return demo_run / "preprocess" / "atac_a.h5ad"


def test_rows_read_from_disk_equal_the_loaded_matrix(preprocessed_atac):
    loaded = read_preprocessed(preprocessed_atac).layers["counts"]
    on_disk = read_preprocessed(preprocessed_atac, backed=True)
    assert on_disk.X is None and isinstance(on_disk.layers["counts"], CSRDataset)
    counts = BackedCounts(on_disk.layers["counts"])
    n, n_vars = counts.shape
    for rows in (np.array([5, 3, 3, n - 1, 0]), np.arange(0, n, 7), slice(2, 40)):
        assert (counts[rows] != loaded[rows]).nnz == 0
    assert counts.shape == loaded.shape
    np.testing.assert_array_equal(row_sums(counts), row_sums(loaded))
    np.testing.assert_array_equal(row_sums(counts, binary=True), np.diff(loaded.indptr))
    np.testing.assert_allclose(column_sums(counts), np.asarray(loaded.sum(axis=0)).ravel(), rtol=1e-6)
    np.testing.assert_array_equal(column_sums(counts, binary=True), np.bincount(loaded.indices, minlength=n_vars))
    assert max_value(counts) == loaded.max()
    assert sum(b.shape[0] for b in counts.blocks(size=64)) == n


def test_select_counts_keeps_own_features_on_disk_and_loads_other_selections(preprocessed_atac):
    on_disk = read_preprocessed(preprocessed_atac, backed=True)
    loaded = read_preprocessed(preprocessed_atac)
    own = list(on_disk.var_names)
    counts, missing = select_counts(on_disk, own, source="test")
    assert isinstance(counts, BackedCounts) and missing == 0
    picked = [own[5], "chrZ:1-2", own[0], own[-1]]
    a, missing_a = select_counts(on_disk, picked, source="test")
    b, missing_b = select_counts(loaded, picked, source="test")
    assert isinstance(a, sp.csr_matrix) and missing_a == missing_b == 1
    assert (a != b).nnz == 0


def test_select_counts_copy_pick_and_product_give_the_requested_columns(preprocessed_atac):
    """Own features in order (a copy), all present in another order (a column pick), some missing (the
    selector product): each the loaded counts' columns, float32, zeros for the missing feature."""
    loaded = read_preprocessed(preprocessed_atac)
    dense = loaded.layers["counts"].toarray()
    own = list(loaded.var_names)
    for names in (own, own[::-1][:50] + own[:3], [own[7], "chrZ:1-2", own[2]]):
        counts, missing = select_counts(loaded, names, source="test")
        pos = loaded.var_names.get_indexer(names)
        expected = np.where(pos >= 0, dense[:, pos], 0)
        assert counts.dtype == np.float32 and missing == int((pos < 0).sum())
        np.testing.assert_array_equal(counts.toarray(), expected)
    copied, _ = select_counts(loaded, own, source="test")
    copied.data[:] = -1  # a copy: the sample's own counts are untouched
    assert loaded.layers["counts"].data.min() >= 0


def test_backed_training_data_reads_batches_from_disk(demo_data, demo_run, tmp_path):
    out = copy_inputs(demo_run, tmp_path)
    rows = read_samplesheet(sheet_for(demo_data, tmp_path))
    adatas = load_preprocessed(rows, Layout(out), backed=True)
    model = CrossModel.from_preprocessed(adatas, {r.sample: r.modality for r in rows})
    data, _ = model.training_data(adatas)
    assert any(isinstance(d.counts, BackedCounts) for d in data.values())
    memory = model.training_data(load_preprocessed(rows, Layout(out)))[0]
    for name, d in data.items():
        idx = np.array([4, 1, 1, 9])
        for got, want in zip(d.tensors(idx, "cpu"), memory[name].tensors(idx, "cpu"), strict=True):
            assert got.dtype == want.dtype and bool((got == want).all())


def test_backed_training_gives_the_in_memory_model(demo_data, demo_run, tmp_path):
    train_demo(demo_data, demo_run, tmp_path / "memory", evaluate_metrics=False)
    train_demo(demo_data, demo_run, tmp_path / "disk", evaluate_metrics=False, backed=True)
    for sample in SAMPLES:
        za = ad.read_h5ad(tmp_path / "memory" / "integration" / f"{sample}.latent.h5ad").obsm["X_crossomics"]
        zb = ad.read_h5ad(tmp_path / "disk" / "integration" / f"{sample}.latent.h5ad").obsm["X_crossomics"]
        np.testing.assert_array_equal(za, zb)
    pa = np.load(tmp_path / "memory" / "model" / "latent_prior.npz")
    pb = np.load(tmp_path / "disk" / "model" / "latent_prior.npz")
    assert pa.files == pb.files
    for key in pa.files:
        np.testing.assert_array_equal(pa[key], pb[key])
