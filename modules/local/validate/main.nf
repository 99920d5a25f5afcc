process VALIDATE {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(samplesheet), path(inputs, stageAs: 'inputs/?/*')
    path annotation

    output:
    tuple val(meta), path("validated.csv"), emit: csv
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def annotation_arg = annotation ? "--annotation ${annotation}" : ''
    """
    crossomics_validate.py \\
        --input ${samplesheet} \\
        ${annotation_arg} \\
        --out validated.csv \\
        ${args}
    """

    stub:
    """
    touch validated.csv
    """
}
