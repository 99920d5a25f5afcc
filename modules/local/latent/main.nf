process LATENT {
    tag "${meta.id}"
    label 'process_low'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(h5ad, stageAs: 'preprocess/*')
    path model

    output:
    tuple val(meta), path("integration/${meta.id}.latent.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    // --modality takes the sample id: each training sample is its own domain of the model
    def args = task.ext.args ?: ''
    """
    crossomics_embed.py \\
        --model ${model} \\
        --input ${h5ad} \\
        --sample ${meta.id} \\
        --modality ${meta.id} \\
        --outdir . \\
        ${args}
    """

    stub:
    """
    mkdir -p integration
    touch integration/${meta.id}.latent.h5ad
    """
}
