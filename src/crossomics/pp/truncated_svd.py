"""Truncated SVD of a large sparse matrix, its sparse x dense products spread over threads.

:func:`truncated_svd_components` does the arithmetic of scikit-learn's ``TruncatedSVD(algorithm="randomized")``
(the Halko-Martinsson-Tropp range finder with 5 LU-normalised power iterations and 10 oversamples), so its
components are those of scikit-learn bit for bit (``tests/test_truncated_svd.py`` checks this). Only the products
``A @ Q`` and ``A.T @ Q`` differ: SciPy runs each on one core (with the GIL released), and on 100,000 ATAC
cells x 50,000 peaks they were 72% of preprocessing. :func:`threaded_dot` splits a CSR product by rows and a
CSC (transposed) one by the columns of ``Q``; every output element is then summed by SciPy's own loop in its
usual order, so the result is the serial one exactly.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.utils.extmath import svd_flip

N_OVERSAMPLES = 10  # as TruncatedSVD
N_POWER_ITERATIONS = 5  # as TruncatedSVD
MIN_NNZ_PER_THREAD = 1_000_000  # below this a product is not worth splitting


def _row_blocks(a: sp.csr_matrix, n: int) -> list[tuple[int, int, sp.csr_matrix]]:
    """``n`` row blocks of ``a`` with about equal non-zeros, sharing its data: ``(first row, end row, block)``."""
    cuts = np.searchsorted(a.indptr, np.linspace(0, a.nnz, n + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], cuts, [a.shape[0]]]))
    blocks = []
    for r0, r1 in pairwise(bounds):
        s, e = a.indptr[r0], a.indptr[r1]
        # the views are set on an empty block: the constructor copies any view of less than half an array
        # (SciPy's prune), which took 1.6 s a product on 100,000 ATAC cells x 50,000 peaks
        block = sp.csr_matrix((r1 - r0, a.shape[1]), dtype=a.dtype)
        block.indptr, block.indices, block.data = a.indptr[r0 : r1 + 1] - s, a.indices[s:e], a.data[s:e]
        blocks.append((int(r0), int(r1), block))
    return blocks


def threaded_dot(a: sp.spmatrix, q: np.ndarray, threads: int) -> np.ndarray:
    """``a @ q`` (sparse ``a`` in CSR or CSC, dense 2-D ``q``) on up to ``threads`` threads; the same numbers
    as SciPy's serial product."""
    n = min(threads, q.shape[1], max(1, a.nnz // MIN_NNZ_PER_THREAD))
    if n <= 1 or a.format not in ("csr", "csc"):
        return np.asarray(a @ q)
    dtype = np.result_type(a.dtype, q.dtype)
    # SciPy casts both operands to the product's type on every call: cast once here, or each thread of the
    # column split holds its own copy of the values (the 100k priors stage, 14 threads: 10.3 GiB peak, 4.8)
    if a.dtype != dtype:  # the values alone: SciPy's astype would copy the indices as well
        a = type(a)((a.data.astype(dtype), a.indices, a.indptr), shape=a.shape)
    q = q.astype(dtype, copy=False)
    out = np.empty((a.shape[0], q.shape[1]), dtype=dtype)
    with ThreadPoolExecutor(max_workers=n) as pool:
        if a.format == "csr":  # rows apart: each thread owns a band of output rows

            def rows(part: tuple[int, int, sp.csr_matrix]) -> None:
                r0, r1, block = part
                out[r0:r1] = block @ q

            list(pool.map(rows, _row_blocks(a, n)))
        else:  # CSC adds into every output row: split the columns of q instead

            def columns(bounds: tuple[int, int]) -> None:
                c0, c1 = bounds
                out[:, c0:c1] = a @ np.ascontiguousarray(q[:, c0:c1])

            edges = np.linspace(0, q.shape[1], n + 1).astype(int)
            list(pool.map(columns, pairwise(edges)))
    return out


def truncated_svd_components(x: sp.csr_matrix, n_components: int, *, seed: int, threads: int) -> np.ndarray:
    """Right singular vectors (``n_components`` x features) of ``x``, equal to
    ``TruncatedSVD(n_components, algorithm="randomized", random_state=seed).fit(x).components_``."""
    a = sp.csr_matrix(x)
    transpose = a.shape[0] < a.shape[1]
    m = a.T if transpose else a  # scikit-learn factorises the wider orientation's transpose

    def dot(left: sp.spmatrix, right: np.ndarray) -> np.ndarray:
        return threaded_dot(left, right, threads)

    def lu(y: np.ndarray) -> np.ndarray:
        return scipy.linalg.lu(y, permute_l=True, check_finite=False)[0]

    q = np.random.RandomState(seed).normal(size=(m.shape[1], n_components + N_OVERSAMPLES))
    if m.dtype == np.float32:
        q = q.astype(np.float32, copy=False)
    for _ in range(N_POWER_ITERATIONS):
        q = lu(dot(m.T, lu(dot(m, q))))
    q, _ = scipy.linalg.qr(dot(m, q), mode="economic", check_finite=False)
    b = dot(m.T, q).T  # q.T @ m
    u_hat, _, vt = scipy.linalg.svd(b, full_matrices=False, lapack_driver="gesdd")
    u = q @ u_hat
    if transpose:
        u, vt = vt[:n_components].T, u[:, :n_components].T
    else:
        u, vt = u[:, :n_components], vt[:n_components]
    return svd_flip(u, vt, u_based_decision=False)[1]
