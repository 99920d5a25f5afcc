process GENESET_SCORE {
    tag "${meta.id}"
    label 'process_low'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(h5ad, stageAs: 'inputs/*')
    path(gene_sets, stageAs: "gene_sets/*")

    output:
    tuple val(meta), path("priors/${meta.id}.genesets.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def gmt_args = [gene_sets].flatten().collect { gmt -> "--gmt ${gmt}" }.join(' ')
    """
    crossomics_gene_sets.py \\
        --input ${h5ad} \\
        --sample ${meta.id} \\
        ${gmt_args} \\
        --outdir . \\
        ${args}
    """

    stub:
    """
    mkdir -p priors
    touch priors/${meta.id}.genesets.h5ad
    """
}
