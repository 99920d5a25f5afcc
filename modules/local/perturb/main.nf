process PERTURB {
    tag "${meta.id}:chunk ${chunk}/${n_chunks}"
    label 'process_medium'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(h5ad, stageAs: 'preprocess/*'), val(chunk), val(n_chunks)
    path model

    output:
    tuple val(meta), path("perturbation/chunk_${chunk}"), emit: chunk
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    // ext.args picks the genes (--all, --genes, --gene-list), the mode and the conditions; --modality takes the
    // sample id (each training sample is its own domain of the model)
    def args = task.ext.args ?: ''
    """
    crossomics_perturb.py \\
        --model ${model} \\
        --input ${h5ad} \\
        --modality ${meta.id} \\
        --chunk ${chunk} \\
        --n-chunks ${n_chunks} \\
        --out perturbation/chunk_${chunk}/ \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    """
    mkdir -p perturbation/chunk_${chunk}
    touch perturbation/chunk_${chunk}/effects.tsv
    """
}
