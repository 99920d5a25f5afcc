//
// Per-sample QC and preprocessing: one task per sample and step
//

include { QC         } from '../../../modules/local/qc'
include { PREPROCESS } from '../../../modules/local/preprocess'

workflow PREPARE_MODALITIES {

    take:
    ch_samples  // channel: [ val(meta), path(file) ]
    annotation  // value: path(gtf or bed), or []

    main:
    // the annotation goes to ATAC samples only (the promoter fraction of their peaks)
    QC(ch_samples.map { meta, file -> [ meta, file, meta.modality == 'atac' ? annotation : [] ] })
    PREPROCESS(QC.out.h5ad)

    emit:
    qc_h5ad      = QC.out.h5ad          // channel: [ val(meta), path(qc/<id>.qc.h5ad) ]
    qc_json      = QC.out.json          // channel: [ val(meta), path(qc/<id>.qc.json) ]
    preprocessed = PREPROCESS.out.h5ad  // channel: [ val(meta), path(preprocess/<id>.h5ad) ]
}
