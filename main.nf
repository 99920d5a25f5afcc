#!/usr/bin/env nextflow
/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    crossomics/crossomics
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    Single-cell multi-omics integration, cross-modal generation, simulation and
    in-silico perturbation (the scCross method, rebuilt).
    Github : https://github.com/crossomics/crossomics
----------------------------------------------------------------------------------------
*/

/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    IMPORT FUNCTIONS / MODULES / SUBWORKFLOWS / WORKFLOWS
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
*/

include { CROSSOMICS              } from './workflows/crossomics'
include { PIPELINE_INITIALISATION } from './subworkflows/local/utils_nfcore_crossomics_pipeline'
include { PIPELINE_COMPLETION     } from './subworkflows/local/utils_nfcore_crossomics_pipeline'

/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    RUN MAIN WORKFLOW
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
*/

workflow {

    main:
    //
    // SUBWORKFLOW: validate parameters, read the samplesheet
    //
    PIPELINE_INITIALISATION(
        params.version,
        params.validate_params,
        params.help,
        params.help_full,
        params.show_hidden,
        params.input
    )

    //
    // WORKFLOW: the analysis
    //
    def annotation = params.annotation ? file(params.annotation, checkIfExists: true) : []
    def gene_sets = params.gene_sets
        ? params.gene_sets.tokenize(',').collect { gmt -> file(gmt.trim(), checkIfExists: true) }.flatten()
        : []
    def multiqc_config = file(params.multiqc_config ?: "${projectDir}/assets/multiqc_config.yml", checkIfExists: true)
    CROSSOMICS(
        PIPELINE_INITIALISATION.out.samplesheet,
        annotation,
        gene_sets,
        multiqc_config,
        params.outdir
    )

    //
    // SUBWORKFLOW: completion summary
    //
    PIPELINE_COMPLETION(
        params.outdir,
        CROSSOMICS.out.multiqc_report
    )
}

/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    THE END
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
*/
