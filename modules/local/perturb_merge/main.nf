process PERTURB_MERGE {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(chunks, stageAs: 'chunks/*')
    path(gene_sets, stageAs: 'gene_sets/*')  // GMT files for the pathway enrichment of the top genes, or []

    output:
    tuple val(meta), path("perturbation/*.tsv"), emit: tsv
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def gmt_args = [gene_sets].flatten().collect { gmt -> "--gmt ${gmt}" }.join(' ')
    """
    crossomics_perturb_merge.py \\
        --inputs chunks/chunk_* \\
        --out perturbation/ \\
        ${gmt_args} \\
        ${args}
    """

    stub:
    """
    mkdir -p perturbation
    touch perturbation/effects.tsv
    """
}
