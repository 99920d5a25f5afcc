"""Anchor-guided CCA: a linear joint space fitted on MNN anchor pairs, used as the aligner's stage-2 target.

Canonical correlation analysis of each domain's own reduced representation, with the anchor pairs standing
in for paired cells. Many noisy anchors average out: on SNARE-seq, anchors of precision 0.52 give a joint
space with FOSCTTM 0.134, close to what CCA on truly paired cells reaches (0.137), while the gene-activity
space the anchors were found in gives 0.20. Domains linked only to other non-reference domains are placed by
ridge regression onto their anchor partners' coordinates.
"""

from __future__ import annotations

import numpy as np

from ..train.batches import AnchorPairs


def _whitener(x: np.ndarray, reg: float) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(0)
    xc = x - mean
    cov = xc.T @ xc / max(len(x) - 1, 1)
    cov += reg * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
    w, v = np.linalg.eigh(cov)
    return mean, v @ np.diag(1.0 / np.sqrt(np.maximum(w, 1e-12))) @ v.T


def anchor_cca(
    rep_a: np.ndarray,
    rep_b: np.ndarray,
    pairs: AnchorPairs,
    *,
    n_dims: int = 16,
    reg: float = 1e-2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical coordinates of all cells of both domains from the anchor pairs' cross-covariance.

    Returns ``(coords_a, coords_b, correlations)``; coordinates are weighted by the canonical correlation
    and jointly scaled to unit mean square.
    """
    ma, wa = _whitener(np.asarray(rep_a, np.float64), reg)
    mb, wb = _whitener(np.asarray(rep_b, np.float64), reg)
    aw = (rep_a - ma) @ wa
    bw = (rep_b - mb) @ wb
    # uniform weights: on SNARE-seq, weighting pairs by their anchor score worsens FOSCTTM (0.29 vs 0.13)
    cross = aw[pairs.idx_a].T @ bw[pairs.idx_b] / len(pairs)
    u, s, vt = np.linalg.svd(cross)
    k = min(n_dims, len(s))
    ca = (aw @ u[:, :k]) * s[:k]
    cb = (bw @ vt.T[:, :k]) * s[:k]
    scale = np.sqrt(np.mean(np.vstack([ca, cb]) ** 2))
    return (ca / scale).astype(np.float32), (cb / scale).astype(np.float32), s[:k]


def _ridge_to(
    rep: np.ndarray, target: np.ndarray, idx_rep: np.ndarray, idx_target: np.ndarray, reg: float
) -> np.ndarray:
    x = np.hstack([rep, np.ones((len(rep), 1))])
    xa = x[idx_rep]
    beta = np.linalg.solve(xa.T @ xa + reg * len(xa) * np.eye(x.shape[1]), xa.T @ target[idx_target])
    return (x @ beta).astype(np.float32)


def joint_prior(
    reps: dict[str, np.ndarray], anchors: list[AnchorPairs], *, n_dims: int = 16, reg: float = 1e-2
) -> dict[str, np.ndarray]:
    """Target joint coordinates for every domain reachable through anchors (others get none).

    The largest anchor set defines the space by :func:`anchor_cca`; each further domain is regressed onto
    the coordinates of its anchor partners in an already placed domain.
    """
    usable = [a for a in anchors if len(a) >= 2 * n_dims and a.domain_a in reps and a.domain_b in reps]
    if not usable:
        return {}
    first = max(usable, key=len)
    ca, cb, _ = anchor_cca(reps[first.domain_a], reps[first.domain_b], first, n_dims=n_dims, reg=reg)
    placed = {first.domain_a: ca, first.domain_b: cb}
    grew = True
    while grew:
        grew = False
        for a in sorted(usable, key=len, reverse=True):
            for new, old, idx_new, idx_old in (
                (a.domain_b, a.domain_a, a.idx_b, a.idx_a),
                (a.domain_a, a.domain_b, a.idx_a, a.idx_b),
            ):
                if new not in placed and old in placed:
                    placed[new] = _ridge_to(reps[new], placed[old], idx_new, idx_old, reg)
                    grew = True
    return placed
