//
// Pipeline start and end: parameter validation, the samplesheet channel, the completion summary,
// and the small helpers the workflow shares
//

include { paramsHelp         } from 'plugin/nf-schema'
include { paramsSummaryLog   } from 'plugin/nf-schema'
include { samplesheetToList  } from 'plugin/nf-schema'
include { validateParameters } from 'plugin/nf-schema'

/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    SUBWORKFLOW TO INITIALISE PIPELINE
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
*/

workflow PIPELINE_INITIALISATION {

    take:
    version           // boolean: print the version and exit
    validate_params   // boolean: validate the parameters against nextflow_schema.json
    help              // boolean: print the help message and exit
    help_full         // boolean: print the help message with every parameter and exit
    show_hidden       // boolean: include hidden parameters in the help message
    input             //  string: path of the samplesheet

    main:
    if (version) {
        log.info("${workflow.manifest.name} ${workflow.manifest.version}")
        exit(0)
    }

    def command = "nextflow run ${workflow.manifest.name} -profile <docker/singularity/...> --input samplesheet.csv --outdir <OUTDIR>"
    if (help || help_full) {
        log.info(paramsHelp([ command: command, showHidden: show_hidden, fullHelp: help_full ], ''))
        exit(0)
    }

    log.info(paramsSummaryLog(workflow))
    if (validate_params) {
        validateParameters()
    }
    validateInputParameters()

    // One [ meta, file ] per samplesheet row: nf-schema checks columns, values and that each file exists.
    // As in `crossomics validate`, relative paths name files beside the samplesheet and modality names are
    // case-insensitive; meta.row (1-based) keeps the sheet's order, which `crossomics run` follows too.
    def rows = samplesheetToList(resolveSamplesheet(input), "${projectDir}/assets/schema_input.json")
    def ch_samplesheet = channel
        .fromList(rows.withIndex().collect { row, i -> [ row[0] + [ modality: row[0].modality.toLowerCase(), row: i + 1 ], row[1] ] })

    emit:
    samplesheet = ch_samplesheet  // channel: [ val(meta), path(file) ]
}

/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    SUBWORKFLOW FOR PIPELINE COMPLETION
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
*/

workflow PIPELINE_COMPLETION {

    take:
    outdir          // string: where results are published
    multiqc_report  // channel: [ val(meta), path(multiqc/multiqc_report.html) ]

    main:
    def reports = multiqc_report.toList()

    workflow.onComplete {
        if (workflow.success) {
            log.info("-[${workflow.manifest.name}] Pipeline completed successfully; results in ${outdir}")
            if (reports.isBound() && reports.getVal()) {
                log.info("-[${workflow.manifest.name}] Report: ${outdir}/multiqc/multiqc_report.html")
            }
        } else {
            log.error("-[${workflow.manifest.name}] Pipeline completed with errors; see docs/usage.md (Retries and errors)")
        }
    }

    workflow.onError {
        log.error("Pipeline failed: ${workflow.errorMessage}. Fix the cause and run the same command with -resume.")
    }
}

/*
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    FUNCTIONS
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
*/

//
// Stop early on parameters that only make sense together
//
def validateInputParameters() {
    if (workflow.profile.tokenize(',').contains('awsbatch')) {
        if (!params.awsbatch_queue) {
            error("-profile awsbatch needs --awsbatch_queue (the AWS Batch job queue for CPU tasks)")
        }
        if (!params.awsbatch_workdir?.startsWith('s3://')) {
            error("-profile awsbatch needs --awsbatch_workdir s3://bucket/path (AWS Batch tasks share files through S3)")
        }
    }
}

//
// The samplesheet with every relative `file` made absolute against the samplesheet's own folder, so that a
// sheet works from any launch folder (nf-schema alone resolves relative paths against the launch folder)
//
def resolveSamplesheet(input) {
    def sheet = file(input, checkIfExists: true)
    def separator = sheet.name.toLowerCase().endsWith('.tsv') ? '\t' : ','
    def lines = sheet.text.replace('\uFEFF', '').readLines().findAll { line -> line.trim() }
    if (lines.size() < 2) {
        return sheet  // empty or header only: nf-schema reports it
    }
    def header = splitCsvLine(lines[0], separator).collect { name -> name.trim() }
    def column = header.indexOf('file')
    if (column < 0) {
        return sheet  // no file column: nf-schema reports it
    }
    def rows = lines.collect { line -> splitCsvLine(line, separator) }
    rows.drop(1).each { fields ->
        def value = fields.size() > column ? fields[column].trim() : ''
        if (value && !value.contains('://') && !value.startsWith('/')) {
            fields[column] = sheet.parent.resolve(value).toUriString()
        }
    }
    def resolved = workflow.workDir.resolve("samplesheet.${workflow.sessionId}.csv")
    resolved.text = rows.collect { fields -> fields.collect { field -> csvField(field) }.join(',') }.join('\n') + '\n'
    return resolved
}

//
// One CSV line split into fields (double quotes group a field; "" is a quote inside one)
//
def splitCsvLine(String line, String separator) {
    def fields = []
    def field = new StringBuilder()
    def quoted = false
    for (int i = 0; i < line.length(); i++) {
        def c = line[i]
        if (quoted && c == '"' && i + 1 < line.length() && line[i + 1] == '"') {
            field << '"'
            i++
        } else if (c == '"') {
            quoted = !quoted
        } else if (c == separator && !quoted) {
            fields << field.toString()
            field = new StringBuilder()
        } else {
            field << c
        }
    }
    fields << field.toString()
    return fields
}

//
// A value as a CSV field: empty for null or [] (nf-schema's empty optional column), quoted when needed
//
def csvField(value) {
    def text = (value == null || value == []) ? '' : value.toString()
    return text =~ /[",\r\n]/ ? '"' + text.replace('"', '""') + '"' : text
}

//
// The samplesheet VALIDATE checks (and TRAIN and METRICS read): the same rows, with each file named as VALIDATE
// stages it (inputs/<position>/<file name>, positions counted from 1 in the order of `rows`)
//
def stagedSamplesheet(rows) {
    def columns = [ 'sample', 'modality', 'file', 'batch', 'condition', 'genome', 'mudata_key', 'allow_non_counts' ]
    def lines = [ columns.join(',') ]
    rows.eachWithIndex { row, i ->
        def meta = row[0]
        def values = [ meta.id, meta.modality, "inputs/${i + 1}/${row[1].name}", meta.batch, meta.condition, meta.genome, meta.mudata_key, meta.allow_non_counts ]
        lines << values.collect { value -> csvField(value) }.join(',')
    }
    return lines.join('\n') + '\n'
}

//
// meta of an anchor task between sample A and sample B
//
def pairMeta(meta_a, meta_b) {
    return [ id: "${meta_a.id}__${meta_b.id}", sample_a: meta_a.id, modality_a: meta_a.modality, sample_b: meta_b.id, modality_b: meta_b.modality ]
}

//
// One JSON object with the keys of every given JSON object text (MNN_ANCHORS writes one pair's metrics/anchors.json
// per task; `crossomics run` keeps all pairs in one file, keyed '<a>__<b>')
//
def mergeJsonObjects(texts) {
    def merged = new TreeMap()
    texts.each { text -> merged.putAll(new groovy.json.JsonSlurper().parseText(text.toString()) as Map) }
    return groovy.json.JsonOutput.prettyPrint(groovy.json.JsonOutput.toJson(merged)) + '\n'
}

//
// software_versions.yml from the `versions` topic: one block per process, one line per tool
//
def softwareVersionsYaml(entries) {
    def by_process = [:].withDefault { [] as Set }
    entries.each { process, tool, version ->
        by_process[process.tokenize(':')[-1]] << "  ${tool}: ${version}".toString()
    }
    def blocks = by_process.keySet().sort().collect { process -> "${process}:\n" + by_process[process].sort().join('\n') }
    def workflow_block = "Workflow:\n  ${workflow.manifest.name}: ${workflow.manifest.version}\n  Nextflow: ${workflow.nextflow.version}"
    return (blocks + [ workflow_block ]).join('\n') + '\n'
}
