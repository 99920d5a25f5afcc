//
// Priors for training: gene activity (ATAC), gene-set scores and MNN anchors between modality pairs
//

include { GENE_ACTIVITY } from '../../../modules/local/gene_activity'
include { GENESET_SCORE } from '../../../modules/local/geneset_score'
include { MNN_ANCHORS   } from '../../../modules/local/mnn_anchors'
include { pairMeta      } from '../utils_nfcore_crossomics_pipeline'

workflow BUILD_PRIORS {

    take:
    ch_preprocessed  // channel: [ val(meta), path(preprocess/<id>.h5ad) ]
    annotation       // value: path(gtf or bed), or [] (no gene activity, no RNA-ATAC anchors)
    gene_sets        // value: [ path(gmt), ... ], or [] (no gene-set scores)
    skip_anchors     // boolean

    main:
    def ch_rna  = ch_preprocessed.filter { meta, _h5ad -> meta.modality == 'rna' }
    def ch_atac = ch_preprocessed.filter { meta, _h5ad -> meta.modality == 'atac' }
    def ch_adt  = ch_preprocessed.filter { meta, _h5ad -> meta.modality == 'adt' }

    // ATAC peaks -> genes: one task per ATAC sample
    def ch_activity = channel.empty()
    if (annotation) {
        GENE_ACTIVITY(ch_atac, annotation)
        ch_activity = GENE_ACTIVITY.out.h5ad
    }

    // Gene-set scores: RNA on its expression, ATAC on its gene activity; one task per sample
    def ch_scores = channel.empty()
    if (gene_sets) {
        GENESET_SCORE(ch_rna.mix(ch_activity), gene_sets)
        ch_scores = GENESET_SCORE.out.h5ad
    }

    // Anchors: one task per (RNA sample, ATAC sample) and (RNA sample, ADT sample) pair
    def ch_anchors = channel.empty()
    def ch_anchor_metrics = channel.empty()
    if (!skip_anchors) {
        def ch_rna_atac = ch_rna
            .combine(ch_atac.join(ch_activity))
            .map { meta_a, h5ad_a, meta_b, h5ad_b, activity_b -> [ pairMeta(meta_a, meta_b), h5ad_a, h5ad_b, activity_b ] }
        def ch_rna_adt = ch_rna
            .combine(ch_adt)
            .map { meta_a, h5ad_a, meta_b, h5ad_b -> [ pairMeta(meta_a, meta_b), h5ad_a, h5ad_b, [] ] }
        MNN_ANCHORS(ch_rna_atac.mix(ch_rna_adt))
        ch_anchors = MNN_ANCHORS.out.tsv
        ch_anchor_metrics = MNN_ANCHORS.out.json
    }

    // Everything the trainer reads from priors/, gathered into one list ([] when there is none)
    def ch_priors = ch_activity
        .mix(ch_scores, ch_anchors)
        .map { _meta, file -> file }
        .collect(sort: true)
        .ifEmpty([])

    emit:
    gene_activity  = ch_activity        // channel: [ val(meta), path(priors/<id>.gene_activity.h5ad) ]
    gene_sets      = ch_scores          // channel: [ val(meta), path(priors/<id>.genesets.h5ad) ]
    anchors        = ch_anchors         // channel: [ val(pair_meta), path(priors/anchors_<a>__<b>.tsv) ]
    anchor_metrics = ch_anchor_metrics  // channel: [ val(pair_meta), path(metrics/anchors.json) ]
    priors         = ch_priors          // value:   [ path, ... ]
}
