process METRICS {
    tag "${meta.id}"
    label 'process_medium'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(samplesheet), path(integration, stageAs: 'integration/*')

    output:
    tuple val(meta), path("metrics/integration.json"), emit: json
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    crossomics_metrics.py \\
        --input ${samplesheet} \\
        --outdir . \\
        ${args}
    """

    stub:
    """
    mkdir -p metrics
    touch metrics/integration.json
    """
}
