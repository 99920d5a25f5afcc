//
// Check the samplesheet and every file it names before any work starts
//

include { VALIDATE          } from '../../../modules/local/validate'
include { stagedSamplesheet } from '../utils_nfcore_crossomics_pipeline'

workflow INPUT_CHECK {

    take:
    ch_samples  // channel: [ val(meta), path(file) ], one per samplesheet row; meta: [ id, modality, batch, condition, genome, mudata_key, allow_non_counts, row ]
    annotation  // value: path(gtf or bed), or [] when not given

    main:
    // VALIDATE stages the files as inputs/1/<name>, inputs/2/<name>, ... in the samplesheet's order; the
    // samplesheet it checks names them the same way, so the check runs on any executor (local, Slurm, AWS Batch)
    def ch_rows = ch_samples.toSortedList { a, b -> a[0].row <=> b[0].row }
    def ch_sheet = ch_rows
        .map { rows -> stagedSamplesheet(rows) }
        .collectFile(name: 'samplesheet.csv')

    VALIDATE(
        ch_sheet
            .combine(ch_rows.map { rows -> [ rows.collect { row -> row[1] } ] })
            .map { sheet, files -> [ [ id: 'samplesheet' ], sheet, files ] },
        annotation
    )

    // Nothing downstream starts before the whole samplesheet passed
    def ch_valid = ch_samples
        .combine(VALIDATE.out.csv)
        .map { meta, file, _sheet_meta, _validated -> [ meta, file ] }

    emit:
    samples     = ch_valid           // channel: [ val(meta), path(file) ]
    samplesheet = ch_sheet           // channel: path(samplesheet.csv), sample files named as staged
    validated   = VALIDATE.out.csv   // channel: [ val(meta), path(validated.csv) ]
}
