"""Preprocessing: per-sample QC, normalisation and reduction (with projection of new cells), kNN smoothing, the
fuzzy neighbour graph."""

from __future__ import annotations

from .features import preprocess, project, project_adata, run_preprocess
from .neighbors import neighbor_graph
from .qc import QCThresholds, filter_cells, qc_metrics, run_qc
from .smoothing import knn_smooth

__all__ = [
    "QCThresholds",
    "filter_cells",
    "knn_smooth",
    "neighbor_graph",
    "preprocess",
    "project",
    "project_adata",
    "qc_metrics",
    "run_preprocess",
    "run_qc",
]
