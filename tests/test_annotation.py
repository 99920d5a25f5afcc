"""Gene annotation reader: GTF gene records, transcript/exon collapsing, BED6, intervals, and bad files."""

from __future__ import annotations

import gzip

import anndata as ad
import pandas as pd
import pytest

from crossomics.errors import InputError
from crossomics.priors.annotation import GENE_COLUMNS, genes_from_intervals, read_annotation

GTF_EXONS = """\
#!genome-build test
chr1\tsrc\texon\t101\t200\t.\t+\t.\tgene_id "G1"; transcript_id "T1"; gene_name "Alpha";
chr1\tsrc\texon\t301\t400\t.\t+\t.\tgene_id "G1"; transcript_id "T1"; gene_name "Alpha";
chr1\tsrc\texon\t151\t450\t.\t+\t.\tgene_id "G1"; transcript_id "T2"; gene_name "Alpha";
chr2\tsrc\texon\t1001\t1100\t.\t-\t.\tgene_id "G2"; transcript_id "T3";
"""


def test_real_gtf_and_bed_agree(shared_data):
    gtf = read_annotation(shared_data / "annotation" / "mm10_genes.gtf")
    bed = read_annotation(shared_data / "annotation" / "mm10_genes.bed")
    assert list(gtf.columns) == GENE_COLUMNS
    assert len(gtf) == len(bed) == 24368
    merged = gtf.merge(bed, on="gene_name", suffixes=("_gtf", "_bed"))
    assert len(merged) == 24368
    # GTF is 1-based inclusive, BED 0-based half-open: both become 0-based half-open
    assert (merged["start_gtf"] == merged["start_bed"]).all()
    assert (merged["end_gtf"] == merged["end_bed"]).all()
    assert (merged["strand_gtf"] == merged["strand_bed"]).all()
    xkr4 = gtf.set_index("gene_name").loc["Xkr4"]
    assert (xkr4["chrom"], xkr4["start"], xkr4["end"], xkr4["strand"], xkr4["gene_id"]) == (
        "chr1",
        3214481,
        3671498,
        "-",
        "497097",
    )


def test_exon_records_collapse_to_genes(tmp_path):
    path = tmp_path / "exons.gtf.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(GTF_EXONS)
    genes = read_annotation(path).set_index("gene_id")
    assert sorted(genes.index) == ["G1", "G2"]
    assert tuple(genes.loc["G1", ["chrom", "start", "end", "strand", "gene_name"]]) == (
        "chr1",
        100,
        450,
        "+",
        "Alpha",
    )
    # no gene_name: the gene id stands in
    assert tuple(genes.loc["G2", ["start", "end", "strand", "gene_name"]]) == (1000, 1100, "-", "G2")


def test_gff3_attributes(tmp_path):
    path = tmp_path / "genes.gff3"
    path.write_text("chr3\tsrc\tgene\t11\t20\t.\t.\t.\tID=gene:E1;Name=Beta;gene_id=E1\n")
    genes = read_annotation(path)
    assert genes.iloc[0].to_dict() == {
        "chrom": "chr3",
        "start": 10,
        "end": 20,
        "strand": ".",
        "gene_name": "Beta",
        "gene_id": "E1",
    }


@pytest.mark.parametrize(
    ("name", "text", "needles"),
    [
        ("three.bed", "chr1\t1\t10\n", ["three.bed", "at least 6", "separator"]),
        ("empty.gtf", "#only a comment\n", ["empty.gtf", "no gene records"]),
        ("cds.gtf", 'chr1\ts\tCDS\t1\t9\t.\t+\t.\tgene_id "x";\n', ["cds.gtf", "no gene records"]),
        ("swapped.bed", "chr1\t50\t10\tA\t0\t+\n", ["swapped.bed", "row 1", "start <= end"]),
        ("genes.txt", "chr1\t1\t10\tA\t0\t+\n", ["genes.txt", "unknown format", ".gtf"]),
    ],
)
def test_bad_annotation_files(tmp_path, name, text, needles):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_annotation(path)
    for needle in needles:
        assert needle in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_annotation(tmp_path / "nope.gtf")


def test_genes_from_10x_intervals(shared_data, caplog):
    rna = ad.read_h5ad(shared_data / "pbmc10x_multiome_mini_rna.h5ad")
    intervals = rna.var["interval"].astype(object).to_numpy()
    intervals[0] = "NA"
    genes = genes_from_intervals(rna.var_names, intervals, source="pbmc var interval")
    assert len(genes) == rna.n_vars - 1
    assert "1 of 45 genes have no usable interval" in caplog.text
    cd2 = genes.set_index("gene_name").loc["CD2"]
    assert (cd2["chrom"], cd2["start"], cd2["end"], cd2["strand"]) == ("chr1", 116754429, 116754467, ".")
    with pytest.raises(InputError, match="no interval looks like"):
        genes_from_intervals(["A"], [pd.NA])
