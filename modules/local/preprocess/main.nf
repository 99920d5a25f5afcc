process PREPROCESS {
    tag "${meta.id}"
    label 'process_medium'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(h5ad, stageAs: 'qc/*')

    output:
    tuple val(meta), path("preprocess/${meta.id}.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    crossomics_preprocess.py \\
        --input ${h5ad} \\
        --sample ${meta.id} \\
        --modality ${meta.modality} \\
        --outdir . \\
        ${args}
    """

    stub:
    """
    mkdir -p preprocess
    touch preprocess/${meta.id}.h5ad
    """
}
