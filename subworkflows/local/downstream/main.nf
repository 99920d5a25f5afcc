//
// Uses of the trained model: cross-modal generation, simulation and in-silico perturbation
//

include { GENERATE      } from '../../../modules/local/generate'
include { SIMULATE      } from '../../../modules/local/simulate'
include { PERTURB       } from '../../../modules/local/perturb'
include { PERTURB_MERGE } from '../../../modules/local/perturb_merge'

workflow DOWNSTREAM {

    take:
    ch_preprocessed    // channel: [ val(meta), path(preprocess/<id>.h5ad) ]
    model              // value:   path(model)
    skip_generation    // boolean
    skip_simulation    // boolean
    simulate_n_cells   // integer
    skip_perturbation  // boolean
    perturb_sample     // string: sample to perturb, or null for the first sample of perturb_modality in the samplesheet
    perturb_modality   // string
    perturb_chunks     // integer: gene chunks, one task each
    gene_sets          // value:   [ path(gmt), ... ] for the pathway enrichment of the screen, or []

    main:
    // Generation: one task per sample and target modality (every modality of the run but the sample's own)
    def ch_generated = channel.empty()
    if (!skip_generation) {
        def ch_modalities = ch_preprocessed.map { meta, _h5ad -> meta.modality }.unique()
        def ch_pairs = ch_preprocessed
            .combine(ch_modalities)
            .filter { meta, _h5ad, target -> target != meta.modality }
            .map { meta, h5ad, target -> [ meta + [ target: target ], h5ad ] }
        GENERATE(ch_pairs, model)
        ch_generated = GENERATE.out.h5ad
    }

    // Simulation: one task
    def ch_simulated = channel.empty()
    if (!skip_simulation) {
        SIMULATE(model.map { dir -> [ [ id: 'simulation' ], dir ] }, simulate_n_cells)
        ch_simulated = SIMULATE.out.h5ad
    }

    // Perturbation of one sample: one task per gene chunk, then one merge
    def ch_perturbation = channel.empty()
    if (!skip_perturbation) {
        def ch_target = ch_preprocessed
            .filter { meta, _h5ad -> perturb_sample ? meta.id == perturb_sample : meta.modality == perturb_modality }
            .toSortedList { a, b -> a[0].row <=> b[0].row }
            .flatMap { rows -> rows ? [ rows[0] ] : [] }
        def ch_chunks = ch_target
            .combine(channel.of(1..perturb_chunks))
            .map { meta, h5ad, chunk -> [ meta, h5ad, chunk, perturb_chunks ] }
        PERTURB(ch_chunks, model)
        PERTURB_MERGE(PERTURB.out.chunk.groupTuple(size: perturb_chunks), gene_sets)
        ch_perturbation = PERTURB_MERGE.out.tsv
    }

    emit:
    generation   = ch_generated     // channel: [ val(meta), path(generation/<id>_to_<target>.h5ad) ]
    simulation   = ch_simulated     // channel: [ val(meta), [ path(simulation/*.h5ad) ] ]
    perturbation = ch_perturbation  // channel: [ val(meta), [ path(perturbation/*.tsv) ] ]
}
