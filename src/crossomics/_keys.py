"""Every AnnData key crossomics reads or writes, in one place (obs, obsm, layers, uns, var)."""

from __future__ import annotations

from typing import NamedTuple


class _Keys(NamedTuple):
    # obs
    cell_type: str = "cell_type"
    condition: str = "condition"
    batch: str = "batch"
    sample: str = "sample"
    modality: str = "modality"
    synthetic: str = "synthetic"
    n_counts: str = "n_counts"
    library: str = "library"  # counts over the decoded features (simulated cells)
    n_features: str = "n_features"
    pct_mito: str = "pct_mito"
    frac_promoter: str = "frac_promoter"
    # layers
    counts: str = "counts"
    # var
    highly_variable: str = "highly_variable"
    chrom: str = "chrom"
    chrom_start: str = "chromStart"
    chrom_end: str = "chromEnd"
    # obsm
    pca: str = "X_pca"
    lsi: str = "X_lsi"
    reduced: str = "X_reduced"  # the modality's own low-dimensional input (PCA / LSI), whatever the method
    smoothed: str = "X_reduced_smoothed"
    latent: str = "X_crossomics"
    umap: str = "X_umap"
    # varm
    loadings: str = "loadings"
    # uns
    preprocess: str = "crossomics_preprocess"  # dict: method, parameters and projection vectors
    qc: str = "crossomics_qc"
    demo_truth: str = "demo_truth"
    crossomics: str = "crossomics"
    gene_activity: str = "crossomics_gene_activity"  # dict: annotation, window, peaks/genes matched
    gene_sets: str = "crossomics_gene_sets"  # dict: GMT files, sets used/skipped, scoring method
    generate: str = "crossomics_generate"  # dict: model, source/target, features missing, version
    simulate: str = "crossomics_simulate"  # dict: model, domain, cells per type, seed, version
    augment: str = "crossomics_augment"  # dict: model, modality, min_cells, cells added per type


KEYS = _Keys()

MODALITY_RNA = "rna"
MODALITY_ATAC = "atac"
MODALITY_ADT = "adt"
KNOWN_MODALITIES = (MODALITY_RNA, MODALITY_ATAC, MODALITY_ADT)
