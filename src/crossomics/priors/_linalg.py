"""Implicit linear algebra for large sparse inputs: standardised views and randomized SVD of operators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ..pp.truncated_svd import threaded_dot
from ..settings import default_threads
from ._matrix import column_mean_sd

Apply = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Standardised:
    """Column-standardised view ``(x - mean) / sd`` of a sparse matrix, applied without densifying it.

    Constant columns get scale 0 (they contribute nothing).
    """

    x: sp.csr_matrix
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, x: sp.csr_matrix) -> Standardised:
        mean, sd = column_mean_sd(x)
        scale = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0)
        return cls(sp.csr_matrix(x), mean, scale)

    def dot(self, m: np.ndarray) -> np.ndarray:
        """``Z @ m`` for ``m`` of shape (columns, r)."""
        scaled = m * self.scale[:, None]
        return threaded_dot(self.x, scaled, default_threads()) - (self.mean @ scaled)[None, :]

    def tdot(self, n: np.ndarray) -> np.ndarray:
        """``Z.T @ n`` for ``n`` of shape (rows, r)."""
        product = threaded_dot(self.x.T, n, default_threads())
        return self.scale[:, None] * (product - self.mean[:, None] * n.sum(axis=0)[None, :])


def randomized_svd(
    apply: Apply,
    apply_t: Apply,
    shape: tuple[int, int],
    n_comps: int,
    *,
    seed: int = 0,
    n_iter: int = 4,
    oversample: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``n_comps`` singular triplets of an operator known only through ``A @ m`` and ``A.T @ n``.

    Halko-Martinsson-Tropp range finder with ``n_iter`` LU-normalised power iterations and a final QR.
    Signs are fixed so that each left vector's largest-magnitude entry is positive (deterministic output
    for a seed).

    Returns
    -------
    ``(u, s, v)`` with ``u`` (rows, k), ``s`` (k,), ``v`` (columns, k).
    """
    rng = np.random.default_rng(seed)
    width = min(n_comps + oversample, min(shape))
    # thin factorisations gain nothing from BLAS threads, and threads that spin on a busy machine slow
    # them down many times; the operator products stay as they are
    with threadpool_limits(limits=1, user_api="blas"):
        q = apply(rng.standard_normal((shape[1], width)))
        for _ in range(n_iter):  # LU keeps the iterates well scaled at a fraction of the cost of QR
            q = scipy.linalg.lu(apply(scipy.linalg.lu(apply_t(q), permute_l=True)[0]), permute_l=True)[0]
        q, _ = np.linalg.qr(q)
        small = apply_t(q).T  # q.T @ A, (width, columns)
        ub, s, vt = np.linalg.svd(small, full_matrices=False)
    u = (q @ ub)[:, :n_comps]
    v = vt[:n_comps].T
    sign = np.sign(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])])
    sign[sign == 0] = 1
    return u * sign, s[:n_comps], v * sign


def l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean length (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
