"""Anchors between two samples: shared features (names, gene activity or a feature-to-gene table), then MNN.

RNA vs ATAC share genes through the ATAC gene activity; RNA vs ADT through the antibody-to-gene table
(:mod:`crossomics.priors.protein_genes`); batches of one modality share their features directly; any other
pair needs a user mapping.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS, MODALITY_ADT, MODALITY_ATAC, MODALITY_RNA
from ..errors import InputError
from ._embed import own_space
from ._matrix import column_mean_sd, normalise_total, raw_counts
from .mnn import find_anchors
from .protein_genes import map_features, read_feature_mapping

log = logging.getLogger("crossomics")

GENE_SPACE = "genes"


def shared_features(
    a: AnnData,
    b: AnnData,
    *,
    mapping: pd.DataFrame | None = None,
    case_insensitive: bool = True,
    n_features: int = 2000,
    sources: tuple[str, str] = ("A", "B"),
) -> tuple[sp.csr_matrix, sp.csr_matrix, pd.Index]:
    """Log-normalised cells x shared-features matrices of ``a`` and ``b`` (same columns, same order).

    Without ``mapping`` features match by name. With ``mapping`` (long table ``feature``, ``gene`` from
    :func:`crossomics.priors.protein_genes.read_feature_mapping`), the side whose names the table covers
    best keeps its features; on the other side each feature is the sum of its genes' normalised counts.
    When more than ``n_features`` are shared, the most variable in both (summed Fano-factor ranks) are kept.

    Returns
    -------
    ``(shared_a, shared_b, feature_names)``.
    """
    norm_a = normalise_total(raw_counts(a))
    norm_b = normalise_total(raw_counts(b))
    if mapping is None:
        xa, xb, names = _by_name(norm_a, a.var_names, norm_b, b.var_names, case_insensitive)
    else:
        map_a = map_features(a.var_names, mapping, warn=False)
        map_b = map_features(b.var_names, mapping, warn=False)
        if map_a["feature"].nunique() / a.n_vars >= map_b["feature"].nunique() / b.n_vars:
            map_features(a.var_names, mapping, source=sources[0])
            xa, xb, names = _by_mapping(norm_a, a.var_names, map_a, norm_b, b.var_names, case_insensitive)
        else:
            map_features(b.var_names, mapping, source=sources[1])
            xb, xa, names = _by_mapping(norm_b, b.var_names, map_b, norm_a, a.var_names, case_insensitive)
    if len(names) < 2:
        msg = (
            f"{sources[0]} and {sources[1]} share {len(names)} feature(s) "
            f"(e.g. {', '.join(map(str, a.var_names[:3]))} vs {', '.join(map(str, b.var_names[:3]))}): "
            "for ATAC pass its gene activity (--features-a/--features-b from crossomics gene-activity), for "
            "proteins or other features pass --mapping with feature<TAB>genes rows, and check that both "
            "samples use the same species and gene symbols."
        )
        raise InputError(msg)
    xa, xb = sp.csr_matrix(xa), sp.csr_matrix(xb)
    xa.data, xb.data = np.log1p(xa.data), np.log1p(xb.data)
    if len(names) > n_features:
        rank = _rank(xa) + _rank(xb)
        keep = np.sort(np.argsort(rank, kind="stable")[:n_features])
        xa, xb, names = xa[:, keep], xb[:, keep], names[keep]
    log.info("%s vs %s: %d shared features", sources[0], sources[1], len(names))
    return xa, xb, names


def _rank(x: sp.csr_matrix) -> np.ndarray:
    """Rank of each column by Fano factor (0: most variable)."""
    mean, sd = column_mean_sd(x)
    fano = np.divide(sd**2, mean, out=np.zeros_like(mean), where=mean > 0)
    return np.argsort(np.argsort(-fano, kind="stable"), kind="stable")


def _keys(names: pd.Index, case_insensitive: bool) -> pd.Series:
    keys = names.astype(str).str.upper() if case_insensitive else names.astype(str)
    series = pd.Series(np.arange(len(names)), index=keys)
    return series[~series.index.duplicated()]


def _by_name(
    xa: sp.csr_matrix, names_a: pd.Index, xb: sp.csr_matrix, names_b: pd.Index, case_insensitive: bool
) -> tuple[sp.csr_matrix, sp.csr_matrix, pd.Index]:
    ka, kb = _keys(names_a, case_insensitive), _keys(names_b, case_insensitive)
    common = ka.index.intersection(kb.index, sort=False)
    return xa[:, ka[common].to_numpy()], xb[:, kb[common].to_numpy()], names_a[ka[common].to_numpy()]


def _by_mapping(
    x_feat: sp.csr_matrix,
    names_feat: pd.Index,
    pairs: pd.DataFrame,
    x_gene: sp.csr_matrix,
    names_gene: pd.Index,
    case_insensitive: bool,
) -> tuple[sp.csr_matrix, sp.csr_matrix, pd.Index]:
    """Feature-side columns as they are; gene-side columns summed over each feature's genes."""
    genes = _keys(names_gene, case_insensitive)
    target = pairs["gene"].str.upper() if case_insensitive else pairs["gene"]
    pairs = pairs.assign(column=genes.reindex(target.to_numpy()).to_numpy()).dropna(subset=["column"])
    features = pd.Index(pd.unique(pairs["feature"]))
    agg = sp.csr_matrix(
        (np.ones(len(pairs)), (pairs["column"].astype(np.int64), features.get_indexer(pairs["feature"]))),
        shape=(len(names_gene), len(features)),
    )
    agg.data[:] = 1.0
    feat_cols = pd.Index(names_feat.astype(str)).get_indexer(features)
    return x_feat[:, feat_cols], x_gene @ agg, features


def anchors_between(
    a: AnnData,
    b: AnnData,
    *,
    modality_a: str,
    modality_b: str,
    features_a: AnnData | None = None,
    features_b: AnnData | None = None,
    mapping: pd.DataFrame | None = None,
    case_insensitive: bool = True,
    n_features: int = 2000,
    k: int = 20,
    min_score: float = 0.05,
    seed: int = 0,
    sources: tuple[str, str] = ("A", "B"),
) -> pd.DataFrame:
    """Anchors between the cells of ``a`` and ``b`` (see :mod:`crossomics.priors.mnn`).

    Parameters
    ----------
    a, b
        The two samples (raw counts in ``layers["counts"]`` or ``X``; ``obsm["X_reduced"]`` used when
        present).
    modality_a, modality_b
        ``rna``, ``atac``, ``adt`` or another name.
    features_a, features_b
        Gene-level features of the same cells (e.g. ATAC gene activity); default: the sample itself.
    mapping
        Feature-to-gene table; default: the shipped antibody table when exactly one side is ``adt``.
    case_insensitive, n_features
        Name matching and the number of shared features (see :func:`shared_features`).
    k, min_score, seed
        Passed to :func:`crossomics.priors.mnn.find_anchors`.
    sources
        Names of the two samples, for messages.

    Returns
    -------
    Columns ``cell_a``, ``cell_b`` (obs names) and ``score``, best first.
    """
    feat_a = _features(a, features_a, modality_a, modality_b, sources[0], "--features-a")
    feat_b = _features(b, features_b, modality_b, modality_a, sources[1], "--features-b")
    if mapping is None and (modality_a == MODALITY_ADT) != (modality_b == MODALITY_ADT):
        mapping = read_feature_mapping()
    shared_a, shared_b, _ = shared_features(
        feat_a,
        feat_b,
        mapping=mapping,
        case_insensitive=case_insensitive,
        n_features=n_features,
        sources=sources,
    )
    own_a = own_space(a, modality_a, seed=seed)
    own_b = own_space(b, modality_b, seed=seed)
    found = find_anchors(shared_a, shared_b, own_a, own_b, k=k, min_score=min_score, seed=seed)
    return pd.DataFrame(
        {
            "cell_a": a.obs_names[found["cell_a"]].astype(str),
            "cell_b": b.obs_names[found["cell_b"]].astype(str),
            "score": found["score"].to_numpy(np.float64),
        }
    )


def _features(
    adata: AnnData, features: AnnData | None, modality: str, other: str, source: str, option: str
) -> AnnData:
    if features is None:
        if modality == MODALITY_ATAC and other != MODALITY_ATAC:
            msg = (
                f"{source} is ATAC: anchors with {other} need its gene activity; run crossomics "
                f"gene-activity and pass the result with {option}."
            )
            raise InputError(msg)
        return adata
    missing = adata.obs_names.difference(features.obs_names)
    if len(missing):
        msg = (
            f"{option} ({source}): {len(missing)} of the sample's {adata.n_obs} cells are not in the "
            f"features file (e.g. {', '.join(missing[:3])}); pass features computed from the same cells."
        )
        raise InputError(msg)
    return features[adata.obs_names]


def anchor_metrics(anchors: pd.DataFrame, obs_a: pd.DataFrame, obs_b: pd.DataFrame, seconds: float) -> dict:
    """Anchor count, time and, when both samples have ``obs["cell_type"]``, label agreement.

    Returns
    -------
    ``n_anchors``, ``seconds``, ``n_cells_a``/``n_cells_b`` anchored, and with labels ``precision``
    (fraction of anchors joining two cells of the same type), ``cell_types_covered`` (fraction of the cell
    types of either sample joined by at least one such anchor) and ``n_cell_types``.
    """
    metrics = {
        "n_anchors": len(anchors),
        "n_cells_a": int(anchors["cell_a"].nunique()),
        "n_cells_b": int(anchors["cell_b"].nunique()),
        "seconds": round(float(seconds), 2),
    }
    if KEYS.cell_type in obs_a and KEYS.cell_type in obs_b:
        type_a = obs_a[KEYS.cell_type].astype(str).reindex(anchors["cell_a"]).to_numpy()
        type_b = obs_b[KEYS.cell_type].astype(str).reindex(anchors["cell_b"]).to_numpy()
        types = set(obs_a[KEYS.cell_type].astype(str)) | set(obs_b[KEYS.cell_type].astype(str))
        same = type_a == type_b
        metrics["precision"] = float(same.mean()) if len(anchors) else 0.0
        metrics["cell_types_covered"] = len(set(type_a[same])) / len(types)
        metrics["n_cell_types"] = len(types)
    return metrics


def feature_space(modality: str, *, has_gene_activity: bool = False, has_mapping: bool = False) -> str:
    """The feature space of a sample: ``genes`` when it has gene-level features, else its modality."""
    if modality == MODALITY_RNA or modality == MODALITY_ADT or has_mapping:
        return GENE_SPACE
    if modality == MODALITY_ATAC and has_gene_activity:
        return GENE_SPACE
    return modality


def linkable_pairs(
    samples: Mapping[str, str],
    *,
    gene_activity: Collection[str] = (),
    mapped: Collection[str] = (),
) -> list[tuple[str, str]]:
    """Every pair of samples that can be anchored, in sample order.

    Parameters
    ----------
    samples
        Sample id to modality (``rna``, ``atac``, ``adt``, ...), in order.
    gene_activity
        ATAC samples with a gene-activity matrix.
    mapped
        Samples of other modalities with a user feature-to-gene mapping.

    Returns
    -------
    ``(sample_a, sample_b)`` pairs: same modality (batches), or both in the gene space (RNA, ADT through the
    shipped antibody table, ATAC with gene activity, mapped samples). An RNA sample is put first.
    """
    ids = list(samples)
    pairs = []
    for i, first in enumerate(ids):
        for second in ids[i + 1 :]:
            spaces = [
                feature_space(samples[s], has_gene_activity=s in gene_activity, has_mapping=s in mapped)
                for s in (first, second)
            ]
            if samples[first] == samples[second] or spaces[0] == spaces[1]:
                swap = samples[second] == MODALITY_RNA and samples[first] != MODALITY_RNA
                pairs.append((second, first) if swap else (first, second))
    return pairs
