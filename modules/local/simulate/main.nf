process SIMULATE {
    tag "${meta.id}"
    label 'process_low'

    conda "${moduleDir}/../environment.yml"

    input:
    tuple val(meta), path(model)
    val n_cells

    output:
    tuple val(meta), path("simulation/*.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    crossomics_simulate.py \\
        --model ${model} \\
        --n-cells ${n_cells} \\
        --out simulation/ \\
        ${args}
    """

    stub:
    """
    mkdir -p simulation
    touch simulation/rna.h5ad
    """
}
