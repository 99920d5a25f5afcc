"""Priors for training: gene activity (ATAC -> genes), gene-set scores and cross-modal MNN anchors.

Library functions work on AnnData in memory; ``run_*`` read files and write the ``priors/`` outputs.
"""

from __future__ import annotations

from .anchors import anchor_metrics, anchors_between, linkable_pairs, shared_features
from .annotation import genes_from_intervals, read_annotation
from .fragments import fragment_gene_activity
from .gene_activity import gene_activity
from .gene_sets import read_gmt, read_gmts, score_gene_sets
from .mnn import find_anchors
from .protein_genes import map_features, read_feature_mapping
from .steps import run_anchors, run_gene_activity, run_gene_sets

__all__ = [
    "anchor_metrics",
    "anchors_between",
    "find_anchors",
    "fragment_gene_activity",
    "gene_activity",
    "genes_from_intervals",
    "linkable_pairs",
    "map_features",
    "read_annotation",
    "read_feature_mapping",
    "read_gmt",
    "read_gmts",
    "run_anchors",
    "run_gene_activity",
    "run_gene_sets",
    "score_gene_sets",
    "shared_features",
]
