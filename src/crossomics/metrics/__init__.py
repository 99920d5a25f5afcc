"""Integration and generation metrics (blockwise: no cells x cells matrix is ever held)."""

from .integration import (
    foscttm,
    integration_metrics,
    label_transfer_accuracy,
    leiden_ari_nmi,
    modality_mixing,
    silhouette_celltype,
)

__all__ = [
    "foscttm",
    "integration_metrics",
    "label_transfer_accuracy",
    "leiden_ari_nmi",
    "modality_mixing",
    "silhouette_celltype",
]
