/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    IMPORT MODULES / SUBWORKFLOWS / FUNCTIONS
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
*/

include { INPUT_CHECK          } from '../subworkflows/local/input_check'
include { PREPARE_MODALITIES   } from '../subworkflows/local/prepare_modalities'
include { BUILD_PRIORS         } from '../subworkflows/local/build_priors'
include { INTEGRATE            } from '../subworkflows/local/integrate'
include { DOWNSTREAM           } from '../subworkflows/local/downstream'
include { MULTIQC              } from '../modules/local/multiqc'
include { softwareVersionsYaml } from '../subworkflows/local/utils_nfcore_crossomics_pipeline'
include { mergeJsonObjects     } from '../subworkflows/local/utils_nfcore_crossomics_pipeline'

/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    RUN MAIN WORKFLOW
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
*/

workflow CROSSOMICS {

    take:
    ch_samplesheet  // channel: [ val(meta), path(file) ], one per samplesheet row
    annotation      // value: path(gtf or bed), or []
    gene_sets       // value: [ path(gmt), ... ], or []
    multiqc_config  // value: path(multiqc_config.yml)
    outdir          // string

    main:
    //
    // SUBWORKFLOW: check the samplesheet and every file it names
    //
    INPUT_CHECK(ch_samplesheet, annotation)

    //
    // SUBWORKFLOW: QC and preprocessing, one task per sample and step
    //
    PREPARE_MODALITIES(INPUT_CHECK.out.samples, annotation)

    //
    // SUBWORKFLOW: gene activity, gene-set scores and anchors
    //
    BUILD_PRIORS(
        PREPARE_MODALITIES.out.preprocessed,
        annotation,
        gene_sets,
        params.skip_anchors
    )

    //
    // SUBWORKFLOW: train on all samples (GPU when -profile gpu), embed each sample, measure
    //
    INTEGRATE(
        INPUT_CHECK.out.samplesheet,
        PREPARE_MODALITIES.out.preprocessed,
        BUILD_PRIORS.out.priors,
        params.skip_metrics
    )

    //
    // SUBWORKFLOW: generation, simulation and perturbation with the trained model
    //
    DOWNSTREAM(
        PREPARE_MODALITIES.out.preprocessed,
        INTEGRATE.out.model,
        params.skip_generation,
        params.skip_simulation,
        params.simulate_n_cells,
        params.skip_perturbation,
        params.perturb_sample,
        params.perturb_modality,
        params.perturb_chunks,
        gene_sets
    )

    //
    // metrics/anchors.json: one file for every modality pair, as `crossomics run` writes it
    //
    def ch_anchor_metrics = BUILD_PRIORS.out.anchor_metrics
        .map { _meta, json -> json.text }
        .toList()
        .filter { texts -> texts }
        .map { texts -> mergeJsonObjects(texts) }
        .collectFile(storeDir: "${outdir}/metrics", name: 'anchors.json')

    //
    // The parameters of this run, beside the results (the same file `crossomics run` writes)
    //
    def ch_params = channel.value(groovy.json.JsonOutput.prettyPrint(groovy.json.JsonOutput.toJson(params)))
        .collectFile(storeDir: "${outdir}/pipeline_info", name: 'params.json')

    //
    // Collate software versions from the `versions` topic into pipeline_info/software_versions.yml
    //
    def ch_versions = channel.topic('versions')
        .unique()
        .toList()
        .map { entries -> softwareVersionsYaml(entries) }
        .collectFile(storeDir: "${outdir}/pipeline_info", name: 'software_versions.yml')

    //
    // MODULE: the report, over the output layout
    //
    def ch_report = channel.empty()
    if (!params.skip_multiqc) {
        def files = { ch -> ch.map { entry -> entry instanceof List ? entry[1] : entry }.flatten().collect(sort: true).ifEmpty([]) }
        MULTIQC(
            files(PREPARE_MODALITIES.out.qc_json.mix(PREPARE_MODALITIES.out.qc_h5ad)).map { qc -> [ [ id: 'crossomics' ], qc ] },
            files(BUILD_PRIORS.out.gene_activity.mix(BUILD_PRIORS.out.gene_sets, BUILD_PRIORS.out.anchors)),
            files(ch_anchor_metrics.mix(INTEGRATE.out.metrics)),
            INTEGRATE.out.model,
            files(INTEGRATE.out.latent.mix(INTEGRATE.out.h5mu)),
            files(DOWNSTREAM.out.generation),
            files(DOWNSTREAM.out.simulation),
            files(DOWNSTREAM.out.perturbation),
            files(ch_versions.mix(ch_params)),
            INPUT_CHECK.out.samplesheet,
            multiqc_config
        )
        ch_report = MULTIQC.out.report
    }

    emit:
    multiqc_report = ch_report  // channel: [ val(meta), path(multiqc/multiqc_report.html) ]
    versions       = ch_versions  // channel: path(pipeline_info/software_versions.yml)
}

/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    THE END
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
*/
