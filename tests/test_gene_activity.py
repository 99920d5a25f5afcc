"""Gene activity: interval search, windows, weights, real SNARE-seq and 10x fragments, bad input, CLI."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import scipy.stats as ss
from conftest import assert_user_error

from crossomics._keys import KEYS
from crossomics.errors import InputError
from crossomics.priors._intervals import overlap_pairs
from crossomics.priors._matrix import log_normalise
from crossomics.priors.annotation import genes_from_intervals, read_annotation
from crossomics.priors.fragments import fragment_gene_activity
from crossomics.priors.gene_activity import gene_activity, gene_regions

GENES = pd.DataFrame(
    {
        "chrom": ["chr1", "chr1", "chr2", "chr2"],
        "start": [1000, 5000, 1000, 8000],
        "end": [2000, 6000, 3000, 9000],
        "strand": ["+", "-", ".", "+"],
        "gene_name": ["Plus", "Minus", "NoStrand", "Plus"],  # "Plus" at two loci
        "gene_id": ["g1", "g2", "g3", "g4"],
    }
)


def _atac(peaks: list[str], counts: np.ndarray) -> ad.AnnData:
    return ad.AnnData(
        X=sp.csr_matrix(counts.astype(np.float32)),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(counts.shape[0])]),
        var=pd.DataFrame(index=peaks),
    )


def test_overlap_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    n_items, n_regions = 400, 60
    item_chrom = rng.choice(["chr1", "chr2", "3"], n_items)
    item_start = rng.integers(0, 10_000, n_items)
    item_end = item_start + rng.integers(1, 800, n_items)
    region_chrom = rng.choice(["1", "chr2", "chr3", "chrX"], n_regions)
    region_start = rng.integers(0, 10_000, n_regions)
    region_end = region_start + rng.integers(1, 3000, n_regions)
    pairs = overlap_pairs(item_chrom, item_start, item_end, region_chrom, region_start, region_end)
    got = set(zip(*pairs, strict=True))
    strip = np.char.replace(np.asarray(item_chrom, dtype=str), "chr", "")
    strip_r = np.char.replace(np.asarray(region_chrom, dtype=str), "chr", "")
    expected = {
        (i, r)
        for i in range(n_items)
        for r in range(n_regions)
        if strip[i] == strip_r[r] and item_start[i] < region_end[r] and item_end[i] > region_start[r]
    }
    assert got == expected
    assert len(expected) > 50


def test_regions_are_strand_aware():
    regions = gene_regions(GENES, upstream=100, downstream=10)
    assert regions[["start", "end"]].to_numpy().tolist() == [
        [900, 2010],  # +: upstream before the start
        [4990, 6100],  # -: upstream after the end
        [900, 3100],  # unknown strand: the larger distance on both sides
        [7900, 9010],
    ]
    assert regions["tss"].tolist() == [1000, 6000, 2000, 8000]
    with pytest.raises(InputError, match="must be >= 0"):
        gene_regions(GENES, upstream=-1)


def test_peak_counts_sum_into_genes():
    peaks = [
        "chr1:950-1050",  # Plus promoter
        "chr1_5990_6050",  # Minus promoter (beyond its end, upstream on the - strand)
        "chr1-7000-7100",  # 1 kb upstream of Minus: inside the 2 kb window
        "chr2:8500-8600",  # Plus, second locus
        "chr2:1500-1600",  # NoStrand body
        "chr9:1-100",  # contig absent from the annotation
    ]
    counts = np.array([[1, 2, 3, 4, 5, 6], [0, 1, 0, 0, 0, 1]])
    ga = gene_activity(_atac(peaks, counts), GENES)
    assert ga.var_names.tolist() == ["Plus", "Minus", "NoStrand"]
    assert sp.isspmatrix_csr(ga.X) and ga.X.dtype == np.float32
    assert ga.X.toarray().tolist() == [[1 + 4, 2 + 3, 5], [0, 1, 0]]
    stats = ga.uns[KEYS.gene_activity]
    assert (stats["n_peaks"], stats["n_peaks_matched"], stats["n_genes_with_peak"]) == (6, 5, 3)
    assert ga.var.loc["Minus", "n_peaks"] == 2

    distance = gene_activity(_atac(peaks, counts), GENES, upstream=50, weighting="distance", decay=1000)
    weighted = distance.X.toarray()[0]
    assert weighted[1] == pytest.approx(2.0)  # promoter peak (centre 20 bp from the TSS): weight 1
    # Plus: promoter peak weight 1; second-locus peak centre 8550 is 550 bp from its TSS, 500 beyond 50 bp
    assert weighted[0] == pytest.approx(1 + 4 * np.exp(-500 / 1000), rel=1e-5)
    with pytest.raises(InputError, match="weighting"):
        gene_activity(_atac(peaks, counts), GENES, weighting="nearest")


def test_warnings_for_unknown_contigs_and_genes(caplog):
    peaks = ["chr1:950-1050", "chrUn_1:1-100", "chrUn_1:200-300"]
    ga = gene_activity(
        _atac(peaks, np.ones((2, 3))),
        GENES,
        gene_names=["PLUS", "minus", "Absent"],
        case_insensitive=True,
        annotation="genes.gtf",
        source="atac.h5ad",
        gene_names_source="rna.h5ad",
    )
    assert ga.var_names.tolist() == ["PLUS", "minus"]  # spelled as in the RNA
    assert "2 of 3 peaks of atac.h5ad lie on contigs absent from genes.gtf (chrUn_1)" in caplog.text
    assert "1 of 3 genes of rna.h5ad are absent from genes.gtf (e.g. Absent)" in caplog.text
    with pytest.raises(InputError, match="none of the 1 genes of rna.h5ad") as err:
        gene_activity(_atac(peaks, np.ones((2, 3))), GENES, gene_names=["plus"], gene_names_source="rna.h5ad")
    assert "--case-insensitive" in str(err.value)
    with pytest.raises(InputError, match="no peak of atac.h5ad overlaps a gene of genes.gtf"):
        gene_activity(_atac(peaks[1:], np.ones((2, 2))), GENES, annotation="genes.gtf", source="atac.h5ad")


def _lfc_spearman(rna: sp.csr_matrix, ga: sp.csr_matrix, labels: np.ndarray) -> float:
    """Per cell type: Spearman of RNA vs gene-activity log fold change (type vs rest); mean over types."""
    r, g = log_normalise(rna), log_normalise(ga)
    rhos = []
    for t in np.unique(labels):
        inside = labels == t
        lfc_r = np.asarray(r[inside].mean(axis=0) - r[~inside].mean(axis=0)).ravel()
        lfc_g = np.asarray(g[inside].mean(axis=0) - g[~inside].mean(axis=0)).ravel()
        rhos.append(ss.spearmanr(lfc_r, lfc_g).statistic)
    return float(np.mean(rhos))


def test_snare_gene_activity_tracks_rna(shared_data):
    rna = ad.read_h5ad(shared_data / "snare_chen2019_mouse_cortex_rna.h5ad")
    atac = ad.read_h5ad(shared_data / "snare_chen2019_mouse_cortex_atac.h5ad")
    genes = read_annotation(shared_data / "annotation" / "mm10_genes.gtf")
    ga = gene_activity(atac, genes, gene_names=rna.var_names)
    stats = ga.uns[KEYS.gene_activity]
    print(
        f"SNARE: {stats['n_peaks_matched']}/{stats['n_peaks']} peaks matched, "
        f"{stats['n_genes_with_peak']}/{stats['n_genes_requested']} RNA genes with >= 1 peak"
    )
    assert stats["n_peaks_matched"] / stats["n_peaks"] > 0.9
    labels = rna.obs["cell_type"].to_numpy()
    x_rna = sp.csr_matrix(rna[:, ga.var_names].X, dtype=np.float32)
    real = _lfc_spearman(x_rna, ga.X, labels)
    shuffled = _lfc_spearman(x_rna, ga.X[np.random.default_rng(0).permutation(ga.n_obs)], labels)
    print(f"SNARE gene activity vs RNA, mean per-type LFC Spearman: real {real:.3f}, shuffled {shuffled:.3f}")
    assert real >= 0.30
    assert abs(shuffled) < 0.08


def _pbmc_genes(rna: ad.AnnData) -> pd.DataFrame:
    return genes_from_intervals(rna.var_names, rna.var["interval"], source="PBMC RNA var interval")


def test_fragments_count_per_gene_and_track_rna(shared_data):
    rna = ad.read_h5ad(shared_data / "pbmc10x_multiome_mini_rna.h5ad")
    atac = ad.read_h5ad(shared_data / "pbmc10x_multiome_mini_atac.h5ad")
    fragments = shared_data / "pbmc10x_multiome_mini_fragments.tsv.gz"
    ga = fragment_gene_activity(fragments, atac.obs_names, _pbmc_genes(rna), chunksize=100_000)
    stats = ga.uns[KEYS.gene_activity]
    assert stats["n_fragments_read"] == 367_439
    assert stats["n_fragments_cells"] == 26_573
    assert ga.obs_names.tolist() == atac.obs_names.tolist()
    x_rna = rna[:, ga.var_names].X.toarray()
    x_ga = ga.X.toarray()
    perm = np.random.default_rng(0).permutation(rna.n_obs)
    real = np.nanmean([ss.spearmanr(x_rna[:, j], x_ga[:, j]).statistic for j in range(ga.n_vars)])
    shuffled = np.nanmean([ss.spearmanr(x_rna[perm, j], x_ga[:, j]).statistic for j in range(ga.n_vars)])
    print(
        f"PBMC fragment gene activity vs RNA, mean Spearman over genes: real {real:.3f}, "
        f"shuffled {shuffled:.3f}"
    )
    assert real > 0.1
    assert abs(shuffled) < 0.05
    with pytest.raises(InputError, match="none of its 367439 fragments belongs") as err:
        fragment_gene_activity(fragments, ["NOT-A-BARCODE"], _pbmc_genes(rna))
    assert "pbmc10x_multiome_mini_fragments.tsv.gz" in str(err.value)


def test_cli_gene_activity_peaks_and_fragments(shared_data, tmp_path, run_cli):
    rna_path = shared_data / "pbmc10x_multiome_mini_rna.h5ad"
    atac_path = shared_data / "pbmc10x_multiome_mini_atac.h5ad"
    genes = _pbmc_genes(ad.read_h5ad(rna_path))
    bed = tmp_path / "pbmc_genes.bed"
    genes.assign(score=0)[["chrom", "start", "end", "gene_name", "score", "strand"]].to_csv(
        bed, sep="\t", header=False, index=False
    )
    common = [
        "--input",
        atac_path,
        "--sample",
        "pbmc_atac",
        "--annotation",
        bed,
        "--outdir",
        tmp_path / "out",
    ]
    result = run_cli("gene-activity", *common, "--rna", rna_path, "--upstream", 5000)
    assert result.exit_code == 0, result.output
    out = ad.read_h5ad(tmp_path / "out" / "priors" / "pbmc_atac.gene_activity.h5ad")
    assert out.obs_names.tolist() == ad.read_h5ad(atac_path).obs_names.tolist()
    assert sp.isspmatrix_csr(out.X) and out.X.dtype == np.float32
    stats = out.uns[KEYS.gene_activity]
    assert stats["n_genes_requested"] == 45 and stats["upstream"] == 5000 and stats["n_peaks_matched"] > 100
    result = run_cli(
        "gene-activity", *common, "--fragments", shared_data / "pbmc10x_multiome_mini_fragments.tsv.gz"
    )
    assert result.exit_code == 0, result.output
    frag = ad.read_h5ad(tmp_path / "out" / "priors" / "pbmc_atac.gene_activity.h5ad")
    assert frag.uns[KEYS.gene_activity]["n_fragments_cells"] == 26_573
    assert frag.X.sum() > 10_000


def test_cli_gene_activity_bad_input(shared_data, tmp_path, run_cli):
    atac_path = shared_data / "pbmc10x_multiome_mini_atac.h5ad"
    wrong_build = tmp_path / "mouse_like.bed"
    wrong_build.write_text("chrZ\t1\t1000\tGeneZ\t0\t+\n")
    result = run_cli(
        "gene-activity",
        "--input",
        atac_path,
        "--sample",
        "s",
        "--annotation",
        wrong_build,
        "--outdir",
        tmp_path,
    )
    assert_user_error(result, "mouse_like.bed", "same genome build")
    result = run_cli(
        "gene-activity",
        "--input",
        atac_path,
        "--sample",
        "s",
        "--annotation",
        tmp_path / "missing.gtf",
        "--outdir",
        tmp_path,
    )
    assert_user_error(result, "missing.gtf", "does not exist")
    bad_fragments = tmp_path / "fragments.tsv.gz"
    bad_fragments.write_bytes(b"not gzip at all")
    result = run_cli(
        "gene-activity",
        "--input",
        atac_path,
        "--sample",
        "s",
        "--annotation",
        shared_data / "annotation" / "hg19_genes.bed",
        "--fragments",
        bad_fragments,
        "--outdir",
        tmp_path,
    )
    assert_user_error(result, "fragments.tsv.gz", "cannot be read")
