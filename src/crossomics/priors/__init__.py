"""Priors for training: gene activity (ATAC -> genes), gene-set scores and cross-modal MNN anchors."""
