"""Matrix readers (h5ad, 10x h5, h5mu, 10x mtx folder), read_sample, and the peak-name parser."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import anndata as ad
import h5py
import mudata
import numpy as np
import pandas as pd
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from crossomics.errors import InputError
from crossomics.io.peaks import parse_peak_names, split_peak_names
from crossomics.io.read import read_matrix, read_sample
from crossomics.io.samplesheet import SampleRow

GENES = ["Xkr4", "Rp1", "Sox17", "Mrpl15", "Lypla1"]
PEAKS = ["chr1:3000-3500", "chr1:4000-4200", "chrUn_GL456216:10-90"]


@pytest.fixture
def counts() -> ad.AnnData:
    """7 cells x 5 genes of integer counts with zeros, as an AnnData."""
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(7, len(GENES))).astype(np.int32)
    X[2] = 0
    obs = pd.DataFrame(index=[f"AAAC{i}-1" for i in range(7)])
    var = pd.DataFrame({"gene_ids": [f"ENSMUSG{i:05d}" for i in range(len(GENES))]}, index=GENES)
    return ad.AnnData(X=sparse.csr_matrix(X), obs=obs, var=var)


def write_10x_h5(path: Path, adata: ad.AnnData, feature_types: list[str] | None = None) -> Path:
    """A CellRanger v3 .h5 written by hand: features x cells in CSC order."""
    by_cell = sparse.csc_matrix(adata.X.T)
    types = feature_types or ["Gene Expression"] * adata.n_vars
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g["data"], g["indices"], g["indptr"] = by_cell.data, by_cell.indices, by_cell.indptr
        g["shape"] = np.array(by_cell.shape, dtype=np.int32)
        g["barcodes"] = np.array(adata.obs_names, dtype="S")
        feats = g.create_group("features")
        feats["id"] = np.array(adata.var["gene_ids"], dtype="S")
        feats["name"] = np.array(adata.var_names, dtype="S")
        feats["feature_type"] = np.array(types, dtype="S")
    return path


def write_mtx(
    folder: Path, adata: ad.AnnData, *, compress: bool = True, features: str = "features.tsv"
) -> Path:
    """A 10x matrix folder: features x cells Matrix Market file plus features and barcodes tables."""
    folder.mkdir()
    scipy.io.mmwrite(folder / "matrix.mtx", sparse.coo_matrix(adata.X.T))
    columns = [adata.var["gene_ids"], adata.var_names]
    if features == "features.tsv":
        columns.append(["Gene Expression"] * adata.n_vars)
    pd.DataFrame(dict(enumerate(columns))).to_csv(folder / features, sep="\t", header=False, index=False)
    pd.Series(adata.obs_names).to_csv(folder / "barcodes.tsv", header=False, index=False)
    if compress:
        for name in ("matrix.mtx", features, "barcodes.tsv"):
            with open(folder / name, "rb") as src, gzip.open(folder / f"{name}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            (folder / name).unlink()
    return folder


def write_h5mu(path: Path, mods: dict[str, ad.AnnData]) -> Path:
    with mudata.set_options(pull_on_update=False):
        mudata.MuData(mods).write(path)
    return path


def assert_same(a: ad.AnnData, b: ad.AnnData) -> None:
    assert isinstance(a.X, sparse.csr_matrix) and isinstance(b.X, sparse.csr_matrix)
    assert a.X.shape == b.X.shape and (a.X != b.X).nnz == 0
    assert list(a.obs_names) == list(b.obs_names)
    assert list(a.var_names) == list(b.var_names)


def test_every_format_reads_the_same_matrix(tmp_path, counts):
    counts.write_h5ad(tmp_path / "x.h5ad")
    write_10x_h5(tmp_path / "x.h5", counts)
    peaks = ad.AnnData(
        sparse.csr_matrix(np.ones((counts.n_obs, 2), np.int32)),
        obs=counts.obs,
        var=pd.DataFrame(index=PEAKS[:2]),
    )
    write_h5mu(tmp_path / "x.h5mu", {"rna": counts, "atac": peaks})
    write_mtx(tmp_path / "mtx", counts)
    write_mtx(tmp_path / "mtx_v2", counts, compress=False, features="genes.tsv")
    reads = [
        read_matrix(tmp_path / "x.h5ad"),
        read_matrix(tmp_path / "x.h5"),
        read_matrix(tmp_path / "x.h5mu", mudata_key="rna"),
        read_matrix(tmp_path / "x.h5mu", modality="rna"),
        read_matrix(tmp_path / "mtx"),
        read_matrix(tmp_path / "mtx" / "matrix.mtx.gz"),
        read_matrix(tmp_path / "mtx_v2"),
    ]
    for other in reads:
        assert_same(reads[0], other)
        np.testing.assert_array_equal(other.X.toarray(), counts.X.toarray())
    assert list(reads[1].var["gene_ids"]) == list(counts.var["gene_ids"])
    assert "chrom" not in reads[0].var  # gene names are not peaks


def test_10x_h5_with_several_feature_types_keeps_the_rows_modality(tmp_path, counts):
    names = GENES[:2] + PEAKS
    both = ad.AnnData(counts.X, obs=counts.obs, var=pd.DataFrame({"gene_ids": names}, index=names))
    write_10x_h5(tmp_path / "multiome.h5", both, ["Gene Expression"] * 2 + ["Peaks"] * 3)
    rna = read_matrix(tmp_path / "multiome.h5", modality="rna")
    atac = read_matrix(tmp_path / "multiome.h5", modality="atac")
    everything = read_matrix(tmp_path / "multiome.h5")
    assert list(rna.var_names) == GENES[:2] and "chrom" not in rna.var
    assert list(atac.var_names) == PEAKS
    assert list(atac.var["chrom"]) == ["chr1", "chr1", "chrUn_GL456216"]
    assert list(atac.var["chromEnd"]) == [3500, 4200, 90]
    assert list(everything.var["feature_type"]) == ["Gene Expression"] * 2 + ["Peaks"] * 3
    np.testing.assert_array_equal(atac.X.toarray(), counts.X.toarray()[:, 2:])
    with pytest.raises(InputError, match="no 'Antibody Capture' for modality 'adt'"):
        read_matrix(tmp_path / "multiome.h5", modality="adt")


def test_dense_h5ad_becomes_csr_with_the_same_values(tmp_path, counts):
    dense = ad.AnnData(counts.X.toarray().astype(np.float32), obs=counts.obs, var=counts.var)
    dense.write_h5ad(tmp_path / "dense.h5ad")
    got = read_matrix(tmp_path / "dense.h5ad")
    assert isinstance(got.X, sparse.csr_matrix) and got.X.dtype == np.float32
    np.testing.assert_array_equal(got.X.toarray(), counts.X.toarray())


def test_h5mu_key_missing_or_wrong_lists_the_keys(tmp_path, counts):
    prot = counts[:, :2].copy()
    prot.var_names = ["CD3", "CD4"]
    write_h5mu(tmp_path / "x.h5mu", {"rna": counts, "prot": prot})
    with pytest.raises(InputError, match=r"has no modality 'atac' \(it has: prot, rna\).*mudata_key"):
        read_matrix(tmp_path / "x.h5mu", mudata_key="atac")
    with pytest.raises(InputError, match=r"holds several modalities \(it has: prot, rna\)"):
        read_matrix(tmp_path / "x.h5mu")


def test_real_adt_and_atac_files(shared_data):
    adt = read_matrix(shared_data / "eccite_pbmc_ctrl_adt.h5ad", modality="adt")
    assert adt.shape == (500, 49) and isinstance(adt.X, sparse.csr_matrix)
    assert adt.X.data.min() > 0 and np.all(adt.X.data == np.round(adt.X.data))
    path = shared_data / "pbmc10x_multiome_mini_atac.h5ad"
    atac = read_matrix(path, modality="atac")
    stored = ad.read_h5ad(path)
    assert atac.shape == (1000, 174) and isinstance(atac.X, sparse.csr_matrix)
    assert (atac.X != stored.X).nnz == 0
    for column in ("chrom", "chromStart", "chromEnd"):
        assert list(atac.var[column].astype(str)) == list(stored.var[column].astype(str))


def test_read_sample_adds_sample_batch_and_condition(tmp_path, counts):
    counts.obs["batch"] = "from_file"
    counts.write_h5ad(tmp_path / "x.h5ad")
    row = SampleRow("s1", "rna", tmp_path / "x.h5ad", batch=None, condition="ctrl", row=3)
    got = read_sample(row)
    assert set(got.obs["sample"]) == {"s1"} and set(got.obs["condition"]) == {"ctrl"}
    assert set(got.obs["batch"]) == {"from_file"}
    got = read_sample(SampleRow("s1", "rna", tmp_path / "x.h5ad", batch="b2", row=3))
    assert set(got.obs["batch"]) == {"b2"}


def _zero_bytes(p: Path) -> None:
    p.write_bytes(b"")


def _text(p: Path) -> None:
    p.write_text("gene,cell1\nXkr4,3\n")


def _truncated(p: Path) -> None:
    ad.AnnData(sparse.csr_matrix(np.ones((50, 40), np.int32))).write_h5ad(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("name", "make", "needle"),
    [
        ("absent.h5ad", None, "does not exist"),
        ("empty.h5ad", _zero_bytes, "is empty (0 bytes)"),
        ("text.h5ad", _text, "is not an HDF5 file"),
        ("cut.h5ad", _truncated, "could not be read as h5ad"),
        ("table.csv", _text, "unknown file type '.csv'"),
        ("folder", Path.mkdir, "is a folder without matrix.mtx"),
    ],
)
def test_read_failures_name_the_file_and_row(tmp_path, name, make, needle):
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(InputError) as err:
        read_sample(SampleRow("s1", "rna", path, row=4))
    message = str(err.value)
    assert needle in message and str(path) in message and "row 4" in message and "column 'file'" in message


def test_unreadable_file_says_permission_denied(tmp_path, counts, monkeypatch):
    counts.write_h5ad(tmp_path / "locked.h5ad")
    monkeypatch.setattr("crossomics.io.read.os.access", lambda path, mode: False)
    with pytest.raises(InputError, match=r"locked\.h5ad cannot be read \(permission denied\)"):
        read_matrix(tmp_path / "locked.h5ad")


def test_10x_h5_of_another_layout_is_an_input_error(tmp_path):
    with h5py.File(tmp_path / "v2.h5", "w") as f:
        f.create_group("mm10")
    with pytest.raises(InputError, match=r"not a CellRanger v3 \.h5"):
        read_matrix(tmp_path / "v2.h5")


def test_mtx_with_mismatched_barcodes_is_an_input_error(tmp_path, counts):
    folder = write_mtx(tmp_path / "mtx", counts, compress=False)
    (folder / "barcodes.tsv").write_text("AAAC-1\n")
    with pytest.raises(InputError, match="7 cells but there are 5 feature names and 1 barcodes"):
        read_matrix(folder)


# --- peak names -----------------------------------------------------------------------------------------


def test_peak_formats_and_contigs_with_separators():
    names = [
        "chr1:100-200",
        "chr1_100_200",
        "chr1-100-200",
        "chrUn_GL456216:1-10",
        "chrUn_GL456216_1_10",
        "chr4-GL456216-random:5-6",
        "chr4-GL456216-random-5-6",
        "chrX:7-7",
    ]
    coords = parse_peak_names(names)
    assert list(coords["chrom"]) == ["chr1"] * 3 + ["chrUn_GL456216"] * 2 + ["chr4-GL456216-random"] * 2 + [
        "chrX"
    ]
    assert list(coords["chromStart"]) == [100, 100, 100, 1, 1, 5, 5, 7]
    assert coords["chromEnd"].dtype == np.int64 and list(coords.index) == names


def test_bad_peak_names_are_listed():
    with pytest.raises(InputError) as err:
        parse_peak_names(["chr1:1-2", "CD3E", "chr1:9-3", "chr1 :1-2", "chr1:1-2:3"], where="a.h5ad")
    assert str(err.value).startswith("a.h5ad: 4 of 5 feature names are not peaks ('CD3E', 'chr1:9-3'")


_CHROM = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_.-", min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    chrom=_CHROM,
    start=st.integers(0, 10**12),
    length=st.integers(0, 10**6),
    sep=st.sampled_from([":-", "__", "--"]),
)
def test_formatted_peaks_parse_back(chrom, start, length, sep):
    name = f"{chrom}{sep[0]}{start}{sep[1]}{start + length}"
    coords = parse_peak_names([name])
    assert (coords["chrom"].iat[0], coords["chromStart"].iat[0], coords["chromEnd"].iat[0]) == (
        chrom,
        start,
        start + length,
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=5))
def test_junk_parses_or_raises_input_error(names):
    try:
        coords = parse_peak_names(names)
    except InputError:
        assert split_peak_names(names)[1]
    else:
        assert (coords["chromEnd"] >= coords["chromStart"]).all() and len(coords) == len(names)
