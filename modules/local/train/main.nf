process TRAIN {
    tag "${meta.id}"
    label 'process_high'
    label 'process_gpu'

    conda "${moduleDir}/../environment.yml"

    input:
    // every preprocessed sample and every prior (gene activity, gene-set scores, anchors), staged under
    // the layout names the trainer looks for
    tuple val(meta), path(samplesheet), path(preprocessed, stageAs: 'preprocess/*'), path(priors, stageAs: 'priors/*')

    output:
    tuple val(meta), path("model")                      , emit: model
    tuple val(meta), path("integration/*.latent.h5ad")  , emit: latent
    tuple val(meta), path("integration/crossomics.h5mu"), emit: h5mu
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    // GPU is a label: the accelerator directive (conf/base.config, -profile gpu) decides the device
    def device = task.accelerator ? 'cuda' : 'cpu'
    // --skip-metrics: METRICS scores the integration on a CPU node (or nothing does, with --skip_metrics)
    """
    crossomics_train.py \\
        --input ${samplesheet} \\
        --outdir . \\
        --device ${device} \\
        --threads ${task.cpus} \\
        --skip-metrics \\
        ${args}
    """

    stub:
    """
    mkdir -p model integration
    touch model/weights.pt model/model.json model/history.csv
    for h5ad in preprocess/*.h5ad; do
        touch "integration/\$(basename "\$h5ad" .h5ad).latent.h5ad"
    done
    touch integration/crossomics.h5mu
    """
}
