process MNN_ANCHORS {
    tag "${meta.id}"
    label 'process_medium'

    conda "${moduleDir}/../environment.yml"

    input:
    // meta: [ id: 'A__B', sample_a, modality_a, sample_b, modality_b ]; features_b: [] unless B needs a
    // translation into A's features (ATAC gene activity)
    tuple val(meta), path(h5ad_a, stageAs: 'a/*'), path(h5ad_b, stageAs: 'b/*'), path(features_b, stageAs: 'features/*')

    output:
    tuple val(meta), path("priors/anchors_${meta.sample_a}__${meta.sample_b}.tsv"), emit: tsv
    tuple val(meta), path("metrics/anchors.json")                                 , emit: json
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def features_arg = features_b ? "--features-b ${features_b}" : ''
    """
    crossomics_anchors.py \\
        --input-a ${h5ad_a} \\
        --sample-a ${meta.sample_a} \\
        --modality-a ${meta.modality_a} \\
        --input-b ${h5ad_b} \\
        --sample-b ${meta.sample_b} \\
        --modality-b ${meta.modality_b} \\
        ${features_arg} \\
        --outdir . \\
        ${args}
    """

    stub:
    """
    mkdir -p priors metrics
    touch priors/anchors_${meta.sample_a}__${meta.sample_b}.tsv
    touch metrics/anchors.json
    """
}
