"""Integration metrics: FOSCTTM, Leiden ARI/NMI (resolution sweep), cell-type ASW, modality mixing, label transfer.

Definitions follow the peers' scorer (``../shared/peers/score.py``) and scIB so figures are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_samples,
    silhouette_score,
)
from sklearn.neighbors import KNeighborsClassifier

from .._sampling import seeded_subset
from ..pp.neighbors import neighbor_graph

BLOCK_BYTES = 4 * 2**20  # one block of the distance matrix in FOSCTTM: small enough to stay in cache
ASW_MAX_CELLS = 20000
LEIDEN_MAX_CELLS = 50000
# query cells scored by label transfer (a seeded random subset above this): 100k queries against 100k
# references took 22 s per direction, 20k take a fifth of that, and the accuracy's standard error stays < 0.4%
LABEL_TRANSFER_MAX_CELLS = 20000


def foscttm(x: np.ndarray, y: np.ndarray, *, block: int | None = None) -> float:
    """Fraction Of Samples Closer Than the True Match, averaged over both directions (0 is perfect, 0.5 chance).

    Row ``i`` of ``x`` and row ``i`` of ``y`` are the same cell measured in two modalities. Squared Euclidean
    distances (float32) are computed ``block`` rows of ``x`` at a time (default: 4 MiB of distances), and
    each block serves both directions (its rows for ``x``, its columns for ``y``), so memory stays
    ``block x n`` and every distance is computed once. A cell's own match is never counted as closer.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    n = x.shape[0]
    block = block or max(16, BLOCK_BYTES // (4 * max(n, 1)))
    x2, y2 = (x**2).sum(1), (y**2).sum(1)
    # d(i, j) = x2_i + y2_j - 2 x_i.y_j; x_i is closer to y_j than to its match iff
    # y2_j - 2 x_i.y_j < d(i, i) - x2_i, and y_j is closer to x_i than to its match iff d(i, j) < d(j, j)
    true = x2 + y2 - 2 * (x * y).sum(1)
    x_m2 = -2 * x  # the product then gives -2 x_i.y_j directly
    closer_x = np.empty(n, dtype=np.int64)
    closer_y = np.zeros(n, dtype=np.int64)
    for s in range(0, n, block):
        e = min(s + block, n)
        part = x_m2[s:e] @ y.T
        part += y2[None, :]
        rows = np.arange(e - s)
        part[rows, s + rows] = np.inf
        closer_x[s:e] = np.count_nonzero(part < (true[s:e] - x2[s:e])[:, None], axis=1)
        part += x2[s:e, None]
        closer_y += np.count_nonzero(part < true[None, :], axis=0)
    return float((closer_x.mean() + closer_y.mean()) / (2 * n))


class _IgraphRandom:
    """igraph's random source drawn from ``numpy.random.RandomState(seed)``, as ``scanpy.tl.leiden`` seeds it
    (same memberships as scanpy for the same seed), without touching Python's global ``random``."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.RandomState(seed)

    def getrandbits(self, k: int) -> int:
        return self._rng.tomaxint() & ((1 << k) - 1)

    def randint(self, a: int, b: int) -> int:
        return self._rng.randint(a, b + 1)

    def random(self) -> float:
        return self._rng.random()

    def gauss(self, mu: float, sigma: float) -> float:
        return self._rng.normal(mu, sigma)


def leiden_memberships(graph: sp.spmatrix, resolutions: Sequence[float], *, seed: int = 0) -> list[np.ndarray]:
    """Leiden clusters (modularity, 2 iterations, edge weights) of the undirected weighted ``graph`` at each
    resolution: ``scanpy.tl.leiden(flavor="igraph", n_iterations=2, adjacency=graph, random_state=seed)``'s
    memberships, with the igraph graph built once for the whole sweep instead of once per resolution."""
    import random

    import igraph

    sources, targets = graph.nonzero()
    g = igraph.Graph(directed=False)
    g.add_vertices(graph.shape[0])
    g.add_edges(list(zip(sources, targets)))
    g.es["weight"] = np.asarray(graph[sources, targets]).ravel()
    out = []
    try:
        for res in resolutions:
            igraph.set_random_number_generator(_IgraphRandom(seed))
            part = g.community_leiden(
                objective_function="modularity", weights="weight", resolution=float(res), n_iterations=2
            )
            out.append(np.asarray(part.membership))
    finally:
        igraph.set_random_number_generator(random)
    return out


def leiden_ari_nmi(emb: np.ndarray, labels: np.ndarray, *, seed: int = 0, n_neighbors: int = 15) -> dict[str, float]:
    """Leiden (:func:`leiden_memberships`) on UMAP's fuzzy graph of the exact ``n_neighbors`` nearest neighbours
    in ``emb`` (:func:`crossomics.pp.neighbors.neighbor_graph`) over resolutions 0.1..2.0; the resolution with
    the best NMI (scIB).

    Above 50,000 cells a random 50,000 are clustered (``leiden_cells`` in the result says how many), which
    keeps the 20-resolution sweep to about a minute at 200,000 cells.
    """
    idx = seeded_subset(len(labels), LEIDEN_MAX_CELLS, seed)
    emb, labels = np.asarray(emb)[idx], np.asarray(labels)[idx]
    graph = neighbor_graph(emb, n_neighbors=n_neighbors)
    best = {"nmi_leiden": -1.0, "ari_leiden": 0.0, "leiden_resolution": 0.0, "leiden_cells": len(idx)}
    resolutions = np.round(np.arange(0.1, 2.01, 0.1), 2)
    for res, cl in zip(resolutions, leiden_memberships(graph, resolutions, seed=seed)):
        nmi = normalized_mutual_info_score(labels, cl)
        if nmi > best["nmi_leiden"]:
            best.update(nmi_leiden=float(nmi), ari_leiden=float(adjusted_rand_score(labels, cl)), leiden_resolution=float(res))
    return best


def _float64(emb: np.ndarray) -> np.ndarray:
    """``emb`` as float64 for sklearn's silhouette: float32 input takes its chunked upcasting distance path,
    1.3-1.7x slower (SNARE-seq, 20,000 cells, 2 threads: 6.7-9.0 against 5.2-5.7 s) for the same value
    (to 1e-8)."""
    return np.asarray(emb, dtype=np.float64)


def silhouette_celltype(emb: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> float:
    """Cell-type silhouette scaled to [0, 1] as ``(s + 1) / 2`` (subsampled above 20,000 cells)."""
    idx = seeded_subset(len(labels), ASW_MAX_CELLS, seed)
    return float((silhouette_score(_float64(emb[idx]), labels[idx]) + 1) / 2)


def modality_mixing(emb: np.ndarray, modality: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> float:
    """scIB batch ASW with modality as batch: per cell type, mean of ``1 - |silhouette|``; 1 = well mixed."""
    idx = seeded_subset(len(labels), ASW_MAX_CELLS, seed)
    emb, modality, labels = _float64(emb[idx]), modality[idx], labels[idx]
    scores = []
    for lab in np.unique(labels):
        m = labels == lab
        if len(np.unique(modality[m])) < 2 or m.sum() < 3:
            continue
        s = silhouette_samples(emb[m], modality[m])
        scores.append(float(np.mean(1 - np.abs(s))))
    return float(np.mean(scores)) if scores else float("nan")


def label_transfer_accuracy(
    ref_emb: np.ndarray,
    ref_labels: np.ndarray,
    query_emb: np.ndarray,
    query_labels: np.ndarray,
    *,
    k: int = 15,
    seed: int = 0,
    max_queries: int = LABEL_TRANSFER_MAX_CELLS,
) -> float:
    """kNN (k=15) label transfer from reference cells to query cells; accuracy against the query's labels
    (over a seeded random ``max_queries`` of the query cells when there are more)."""
    idx = seeded_subset(len(query_labels), max_queries, seed)
    clf = KNeighborsClassifier(n_neighbors=min(k, len(ref_labels))).fit(ref_emb, ref_labels)
    return float((clf.predict(np.asarray(query_emb)[idx]) == np.asarray(query_labels)[idx]).mean())


def integration_metrics(
    embeddings: dict[str, np.ndarray],
    labels: dict[str, np.ndarray | None],
    *,
    pairs: list[tuple[str, str, np.ndarray, np.ndarray]] | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """All metrics for per-domain joint embeddings.

    Parameters
    ----------
    embeddings
        Domain -> cells x dims joint embedding.
    labels
        Domain -> cell-type labels (or None).
    pairs
        ``(domain_a, domain_b, idx_a, idx_b)`` of paired cells (same barcode), for FOSCTTM.
    """
    out: dict[str, object] = {"n_cells": {k: int(v.shape[0]) for k, v in embeddings.items()}}
    for a, b, ia, ib in pairs or []:
        out[f"foscttm__{a}__{b}"] = foscttm(embeddings[a][ia], embeddings[b][ib])
    labelled = [k for k in embeddings if labels.get(k) is not None]
    if labelled:
        emb = np.vstack([embeddings[k] for k in labelled])
        lab = np.concatenate([np.asarray(labels[k]).astype(str) for k in labelled])
        mod = np.concatenate([np.full(len(labels[k]), k) for k in labelled])
        out.update(leiden_ari_nmi(emb, lab, seed=seed))
        out["asw_celltype"] = silhouette_celltype(emb, lab, seed=seed)
        if len(labelled) > 1:
            out["modality_mixing"] = modality_mixing(emb, mod, lab, seed=seed)
        for a in labelled:
            for b in labelled:
                if a != b:
                    out[f"label_transfer__{a}__{b}"] = label_transfer_accuracy(
                        embeddings[a],
                        np.asarray(labels[a]).astype(str),
                        embeddings[b],
                        np.asarray(labels[b]).astype(str),
                        seed=seed,
                    )
    return out
