process MULTIQC {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/../environment.yml"

    input:
    // every input is staged under its folder of the output layout: the report reads that layout
    tuple val(meta), path(qc, stageAs: 'qc/*')
    path(priors, stageAs: 'priors/*')
    path(metrics, stageAs: 'metrics/*')
    path(model)
    path(integration, stageAs: 'integration/*')
    path(generation, stageAs: 'generation/*')
    path(simulation, stageAs: 'simulation/*')
    path(perturbation, stageAs: 'perturbation/*')
    path(pipeline_info, stageAs: 'pipeline_info/*')
    path(samplesheet)     // the run's samplesheet (batches and conditions in the samples table)
    path(multiqc_config)  // assets/multiqc_config.yml, or the user's --multiqc_config

    output:
    tuple val(meta), path("multiqc/multiqc_report.html"), emit: report
    // not on the `versions` topic: this process reads the collated topic, which closes only when every
    // process that writes to it has finished (the nf-core MULTIQC module does the same)
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    crossomics_report.py \\
        --outdir . \\
        --input ${samplesheet} \\
        --multiqc-config ${multiqc_config} \\
        ${args}
    """

    stub:
    """
    mkdir -p multiqc
    touch multiqc/multiqc_report.html
    """
}
