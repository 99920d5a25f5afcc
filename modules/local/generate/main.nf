process GENERATE {
    tag "${meta.id}:${meta.modality}->${meta.target}"
    label 'process_low'

    conda "${moduleDir}/../environment.yml"

    input:
    // meta: the sample's meta plus target (a modality the model was trained on, not meta.modality)
    tuple val(meta), path(h5ad, stageAs: 'preprocess/*')
    path model

    output:
    tuple val(meta), path("generation/${meta.id}_to_${meta.target}.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    // --source takes the sample id (each training sample is its own domain); --target a modality
    def args = task.ext.args ?: ''
    """
    mkdir -p generation
    crossomics_generate.py \\
        --model ${model} \\
        --input ${h5ad} \\
        --source ${meta.id} \\
        --target ${meta.target} \\
        --out generation/${meta.id}_to_${meta.target}.h5ad \\
        ${args}
    """

    stub:
    """
    mkdir -p generation
    touch generation/${meta.id}_to_${meta.target}.h5ad
    """
}
