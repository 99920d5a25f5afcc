"""The threaded truncated SVD of the LSI: scikit-learn's components bit for bit, on any thread count."""

from __future__ import annotations

import tracemalloc

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from crossomics.pp import truncated_svd
from crossomics.pp.features import NORM_TFIDF, normalise
from crossomics.pp.truncated_svd import threaded_dot, truncated_svd_components


@pytest.fixture
def split_small(monkeypatch):
    """Split even small products over threads, so that the tests exercise the threaded path."""
    monkeypatch.setattr(truncated_svd, "MIN_NNZ_PER_THREAD", 10)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("threads", [2, 3, 8])
def test_threaded_dot_is_the_serial_product(split_small, fmt, threads):
    a = sp.random(1500, 700, density=0.03, format=fmt, random_state=0)
    q = np.random.default_rng(1).standard_normal((700, 13))
    assert np.array_equal(threaded_dot(a, q, threads), a @ q)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_threaded_dot_casts_the_matrix_once(split_small, fmt):
    """float32 counts times float64: one cast copy of the values on any thread count (SciPy casts on every
    call, so each thread of the column split used to hold its own copy of the matrix)."""
    a = sp.random(20000, 500, density=0.02, format=fmt, dtype=np.float32, random_state=0)
    q = np.random.default_rng(1).standard_normal((500, 8))
    tracemalloc.start()
    out = threaded_dot(a, q, 8)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.array_equal(out, a @ q)
    assert peak < 1.5 * a.nnz * 8 + out.nbytes


def test_row_blocks_share_the_matrix_arrays():
    """Blocks are views of the matrix (SciPy's constructor would copy views under half an array's size)."""
    a = sp.random(1000, 300, density=0.05, format="csr", random_state=3)
    blocks = truncated_svd._row_blocks(a, 4)
    assert len(blocks) == 4 and blocks[-1][1] == a.shape[0]
    for r0, r1, block in blocks:
        assert np.shares_memory(block.data, a.data) and np.shares_memory(block.indices, a.indices)
        assert (block != a[r0:r1]).nnz == 0


@pytest.mark.parametrize(
    ("shape", "dtype"), [((2500, 600), np.float64), ((500, 1800), np.float64), ((1200, 700), np.float32)]
)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_components_equal_scikit_learn(split_small, shape, dtype, threads):
    """Tall and wide (scikit-learn transposes the wide case) matrices, float64 and float32."""
    x = sp.random(*shape, density=0.05, format="csr", random_state=2, dtype=dtype)
    expected = TruncatedSVD(17, algorithm="randomized", random_state=5).fit(x).components_
    got = truncated_svd_components(x, 17, seed=5, threads=threads)
    assert got.dtype == expected.dtype
    assert np.array_equal(got, expected)


def test_snare_atac_lsi_equals_scikit_learn(split_small, shared_data):
    """The real TF-IDF of SNARE-seq ATAC (10,309 cells; wider than tall, so scikit-learn transposes it)."""
    counts = sp.csr_matrix(ad.read_h5ad(shared_data / "snare_chen2019_mouse_cortex_atac.h5ad").X)
    counts.data[:] = 1.0
    idf = counts.shape[0] / (1.0 + np.asarray(counts.sum(axis=0)).ravel())
    tfidf = normalise(counts, NORM_TFIDF, target_sum=1e4, idf=idf)
    expected = TruncatedSVD(51, algorithm="randomized", random_state=0).fit(tfidf).components_
    assert np.array_equal(truncated_svd_components(tfidf, 51, seed=0, threads=2), expected)
