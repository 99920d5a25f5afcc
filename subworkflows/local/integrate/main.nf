//
// Train the joint model on every sample at once, embed each sample, measure the integration
//

include { TRAIN   } from '../../../modules/local/train'
include { LATENT  } from '../../../modules/local/latent'
include { METRICS } from '../../../modules/local/metrics'

workflow INTEGRATE {

    take:
    samplesheet      // channel: path(samplesheet.csv)
    ch_preprocessed  // channel: [ val(meta), path(preprocess/<id>.h5ad) ]
    priors           // value:   [ path, ... ] (may be empty)
    skip_metrics     // boolean

    main:
    // One task gathers all samples: [ meta, samplesheet, [ preprocessed ], [ priors ] ]
    def ch_train = samplesheet
        .map { sheet -> [ [ id: 'crossomics' ], sheet ] }
        .combine(ch_preprocessed.map { _meta, h5ad -> h5ad }.collect(sort: true).map { files -> [ files ] })
        .combine(priors.map { files -> [ files ] })
    TRAIN(ch_train)
    def ch_model = TRAIN.out.model.map { _meta, model -> model }.first()

    // One task per sample: its cells in the joint space
    LATENT(ch_preprocessed, ch_model)

    def ch_metrics = channel.empty()
    if (!skip_metrics) {
        def ch_integration = LATENT.out.h5ad
            .map { _meta, h5ad -> h5ad }
            .mix(TRAIN.out.h5mu.map { _meta, h5mu -> h5mu })
            .collect(sort: true)
            .map { files -> [ files ] }
        METRICS(samplesheet.map { sheet -> [ [ id: 'crossomics' ], sheet ] }.combine(ch_integration))
        ch_metrics = METRICS.out.json
    }

    emit:
    model   = ch_model          // value:   path(model)
    history = TRAIN.out.model   // channel: [ val(meta), path(model) ]
    h5mu    = TRAIN.out.h5mu    // channel: [ val(meta), path(integration/crossomics.h5mu) ]
    latent  = LATENT.out.h5ad   // channel: [ val(meta), path(integration/<id>.latent.h5ad) ]
    metrics = ch_metrics        // channel: [ val(meta), path(metrics/integration.json) ]
}
