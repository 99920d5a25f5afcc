process PERTURB_MERGE {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(chunks, stageAs: 'chunks/*')

    output:
    tuple val(meta), path("perturbation/*.tsv"), emit: tsv
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    crossomics_perturb_merge.py \\
        --inputs chunks/chunk_* \\
        --out perturbation/ \\
        ${args}
    """

    stub:
    """
    mkdir -p perturbation
    touch perturbation/effects.tsv
    """
}
