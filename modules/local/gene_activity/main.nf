process GENE_ACTIVITY {
    tag "${meta.id}"
    label 'process_medium'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(h5ad, stageAs: 'preprocess/*')
    path annotation

    output:
    tuple val(meta), path("priors/${meta.id}.gene_activity.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    crossomics_gene_activity.py \\
        --input ${h5ad} \\
        --sample ${meta.id} \\
        --annotation ${annotation} \\
        --outdir . \\
        ${args}
    """

    stub:
    """
    mkdir -p priors
    touch priors/${meta.id}.gene_activity.h5ad
    """
}
