process QC {
    tag "${meta.id}"
    label 'process_medium'

    conda "${moduleDir}/../environment.yml"

    input:
    // annotation: GTF/BED6 genes for the ATAC promoter fraction, or [] (other modalities, no --annotation)
    tuple val(meta), path(counts), path(annotation)

    output:
    tuple val(meta), path("qc/${meta.id}.qc.h5ad"), emit: h5ad
    tuple val(meta), path("qc/${meta.id}.qc.json"), emit: json
    tuple val("${task.process}"), val('crossomics'), eval('python -c "import crossomics; print(crossomics.__version__)"'), emit: versions_crossomics, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def mudata_arg = meta.mudata_key ? "--mudata-key ${meta.mudata_key}" : ''
    def annotation_arg = annotation ? "--annotation ${annotation}" : ''
    """
    crossomics_qc.py \\
        --input ${counts} \\
        --sample ${meta.id} \\
        --modality ${meta.modality} \\
        ${mudata_arg} \\
        ${annotation_arg} \\
        --outdir . \\
        ${args}
    """

    stub:
    """
    mkdir -p qc
    touch qc/${meta.id}.qc.h5ad
    touch qc/${meta.id}.qc.json
    """
}
