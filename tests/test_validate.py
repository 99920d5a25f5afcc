"""`crossomics validate`: each bad input gives exit code 2 and a message naming file, row, column and fix."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.io
from conftest import REPO, assert_user_error
from scipy import sparse

from crossomics.io.samplesheet import read_samplesheet
from crossomics.io.validate import validate_samplesheet

GENES = ["Xkr4", "Rp1", "Sox17", "Mrpl15", "Lypla1", "Tcea1"]
PEAKS = ["chr1:3214481-3214900", "chr1:4290845-4291200", "chr2:100-600", "chrX:5000-5400"]
N_CELLS = 6


def write_h5ad(path: Path, X, *, obs_names=None, var_names=None) -> Path:
    X = np.asarray(X)
    obs = pd.DataFrame(index=obs_names if obs_names is not None else [f"c{i}" for i in range(X.shape[0])])
    var = pd.DataFrame(index=var_names if var_names is not None else GENES[: X.shape[1]])
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*names are not unique"
        )  # duplicates are written on purpose
        ad.AnnData(sparse.csr_matrix(X), obs=obs, var=var).write_h5ad(path)
    return path


def rna_counts() -> np.ndarray:
    return np.random.default_rng(1).poisson(2.0, size=(N_CELLS, len(GENES))).astype(np.float32)


def good_rna(tmp_path: Path) -> Path:
    return write_h5ad(tmp_path / "rna.h5ad", rna_counts())


def good_atac(tmp_path: Path) -> Path:
    binary = (np.arange(N_CELLS * len(PEAKS)).reshape(N_CELLS, -1) % 3 == 0).astype(np.int32)
    return write_h5ad(tmp_path / "atac.h5ad", binary, var_names=PEAKS)


def write_sheet(tmp_path: Path, rows: list[tuple[str, ...]], header: str = "sample,modality,file") -> Path:
    path = tmp_path / "samples.csv"
    path.write_text("\n".join([header] + [",".join(r) for r in rows]) + "\n")
    return path


def with_values(change: Callable[[np.ndarray], None]) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        X = rna_counts()
        change(X)
        return write_h5ad(tmp_path / "bad.h5ad", X)

    return make


def _set(row: int, col: int, value: float) -> Callable[[np.ndarray], None]:
    def change(X: np.ndarray) -> None:
        X[row, col] = value

    return change


def _bytes(content: bytes, name: str = "bad.h5ad") -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        (tmp_path / name).write_bytes(content)
        return tmp_path / name

    return make


def _truncated(tmp_path: Path) -> Path:
    data = write_h5ad(tmp_path / "whole.h5ad", rna_counts()).read_bytes()
    return _bytes(data[: len(data) // 2])(tmp_path)


BAD_RNA_FILES = {
    "missing": (lambda tmp: tmp / "bad.h5ad", "does not exist"),
    "zero_bytes": (_bytes(b""), "is empty (0 bytes)"),
    "truncated": (_truncated, "could not be read as h5ad"),
    "not_hdf5": (_bytes(b"gene,c1\nXkr4,1\n"), "is not an HDF5 file"),
    "unknown_type": (_bytes(b"x", "bad.loom"), "unknown file type '.loom'"),
    "negative": (
        with_values(_set(1, 2, -3)),
        "1 values are negative, not counts (e.g. -3 at cell 'c1', feature 'Sox17')",
    ),
    "nan": (
        with_values(_set(0, 0, np.nan)),
        "1 values are NaN or infinite (e.g. nan at cell 'c0', feature 'Xkr4')",
    ),
    "inf": (with_values(_set(2, 1, np.inf)), "1 values are NaN or infinite (e.g. inf at cell 'c2'"),
    "float": (with_values(_set(3, 4, 0.5)), "1 values are not whole numbers"),
    "zero_cells": (lambda tmp: write_h5ad(tmp / "bad.h5ad", np.zeros((0, 6))), "has zero cells"),
    "zero_features": (lambda tmp: write_h5ad(tmp / "bad.h5ad", np.zeros((6, 0))), "has zero features"),
    "one_feature": (
        lambda tmp: write_h5ad(tmp / "bad.h5ad", np.ones((6, 1))),
        "has a single feature ('Xkr4')",
    ),
    "dup_barcodes": (
        lambda tmp: write_h5ad(tmp / "bad.h5ad", rna_counts(), obs_names=["a", "b", "a", "c", "b", "d"]),
        "2 duplicated cell barcodes ('a', 'b')",
    ),
    "dup_features": (
        lambda tmp: write_h5ad(tmp / "bad.h5ad", rna_counts(), var_names=[*GENES[:5], "Xkr4"]),
        "1 duplicated feature names ('Xkr4')",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RNA_FILES))
def test_bad_rna_file(tmp_path, run_cli, case):
    make, needle = BAD_RNA_FILES[case]
    bad = make(tmp_path)
    sheet = write_sheet(tmp_path, [("atac1", "atac", str(good_atac(tmp_path))), ("rna1", "rna", bad.name)])
    result = run_cli("validate", "--input", sheet)
    assert_user_error(result, needle, f"{sheet} row 2 (sample 'rna1'), column 'file' ({bad})", "Fix:")
    assert "1 problem (nothing was run)" in result.output


def test_unreadable_file(tmp_path, run_cli, monkeypatch):
    locked = good_rna(tmp_path)
    sheet = write_sheet(tmp_path, [("rna1", "rna", locked.name), ("atac1", "atac", str(good_atac(tmp_path)))])
    real_access = __import__("os").access
    monkeypatch.setattr(
        "crossomics.io.read.os.access", lambda p, mode: Path(p) != locked and real_access(p, mode)
    )
    assert_user_error(
        run_cli("validate", "--input", sheet), "row 1 (sample 'rna1')", "cannot be read (permission denied)"
    )


def test_atac_names_that_are_not_peaks(tmp_path, run_cli):
    sheet = write_sheet(tmp_path, [("rna1", "rna", good_rna(tmp_path).name), ("atac1", "atac", "rna.h5ad")])
    result = run_cli("validate", "--input", sheet)
    assert_user_error(
        result, "row 2 (sample 'atac1'), column 'file'", "6 of 6 ATAC feature names are not peaks ('Xkr4'"
    )


def test_non_counts_allowed_per_row_but_never_nan(tmp_path, run_cli):
    lognorm = write_h5ad(tmp_path / "lognorm.h5ad", np.log1p(rna_counts()) - 0.5)
    rows = [("rna1", "rna", lognorm.name, "true"), ("atac1", "atac", str(good_atac(tmp_path)), "")]
    sheet = write_sheet(tmp_path, rows, header="sample,modality,file,allow_non_counts")
    assert run_cli("validate", "--input", sheet).exit_code == 0
    with_nan = with_values(_set(0, 0, np.nan))(tmp_path)
    sheet = write_sheet(
        tmp_path,
        [("rna1", "rna", with_nan.name, "true"), rows[1]],
        header="sample,modality,file,allow_non_counts",
    )
    assert_user_error(run_cli("validate", "--input", sheet), "row 1 (sample 'rna1')", "NaN or infinite")


def test_h5mu_with_a_wrong_key(tmp_path, run_cli):
    import mudata

    with mudata.set_options(pull_on_update=False):
        mudata.MuData({"gex": ad.read_h5ad(good_rna(tmp_path))}).write(tmp_path / "x.h5mu")
    sheet = write_sheet(tmp_path, [("rna1", "rna", "x.h5mu"), ("atac1", "atac", "atac.h5ad")])
    good_atac(tmp_path)
    assert_user_error(
        run_cli("validate", "--input", sheet), "row 1 (sample 'rna1')", "has no modality 'rna' (it has: gex)"
    )


@pytest.mark.parametrize(
    ("rows", "header", "needle"),
    [
        ([], "sample,modality,file", "has a header but no samples"),
        ([("rna1", "rna")], "sample,modality", "required column 'file' is missing"),
        (
            [("x", "rna", "rna.h5ad"), ("x", "atac", "atac.h5ad")],
            "sample,modality,file",
            "row 1 ('x'), row 2 ('x')",
        ),
        (
            [("rna1", "rnaa", "rna.h5ad"), ("a", "atac", "atac.h5ad")],
            "sample,modality,file",
            "did you mean 'rna'?",
        ),
        (
            [("rna1", "rna", "rna.h5ad"), ("r2", "rna", "rna.h5ad")],
            "sample,modality,file",
            "needs at least two modalities",
        ),
        (
            [("../up", "rna", "rna.h5ad"), ("a", "atac", "atac.h5ad")],
            "sample,modality,file",
            "column 'sample': sample id '../up'",
        ),
        (
            [("rna1", "rna", "rna.h5ad", "mm10"), ("a", "atac", "atac.h5ad", "mm9")],
            "sample,modality,file,genome",
            "column 'genome': samples name different genomes ('mm10' in rows 1; 'mm9' in rows 2)",
        ),
    ],
)
def test_bad_samplesheet(tmp_path, run_cli, rows, header, needle):
    good_rna(tmp_path)
    good_atac(tmp_path)
    sheet = write_sheet(tmp_path, rows, header=header)
    assert_user_error(run_cli("validate", "--input", sheet), str(sheet), needle, "Fix:")


def test_three_different_errors_are_all_reported(tmp_path, run_cli):
    negative = with_values(_set(0, 1, -1))(tmp_path)
    rows = [("rna1", "rnaa", negative.name), ("atac1", "atac", "missing.h5ad"), ("rna2", "rna", "rna.h5ad")]
    good_rna(tmp_path)
    result = run_cli("validate", "--input", write_sheet(tmp_path, rows))
    assert_user_error(
        result,
        "3 problems",
        "row 1 (line 2), column 'modality': 'rnaa' is not a known modality; did you mean 'rna'?",
        "row 1 (sample 'rna1'), column 'file'",
        "values are negative",
        "row 2 (sample 'atac1'), column 'file'",
        "missing.h5ad does not exist",
    )


def test_annotation_checks(tmp_path, run_cli, shared_data):
    bed = shared_data / "annotation" / "mm10_genes.bed"
    unknown = ["chrUn_JH584304:1-50", "chr1_GL456211_random:5-60", "chr3:10-90", "chrZ:1-9"]
    strange = write_h5ad(tmp_path / "strange.h5ad", np.ones((N_CELLS, 4)), var_names=unknown)
    upper = write_h5ad(tmp_path / "upper.h5ad", rna_counts(), var_names=[g.upper() for g in GENES])
    sheet = write_sheet(tmp_path, [("rna1", "rna", upper.name), ("atac1", "atac", strange.name)])
    result = run_cli("validate", "--input", sheet, "--annotation", bed)
    assert_user_error(
        result,
        f"row 1 (sample 'rna1'), column 'file' ({upper}): only 0.0% (0 of 6) of the gene names are in",
        f"annotation {bed} (below --min-annotated 0.5; missing e.g. 'XKR4', 'RP1', 'SOX17')",
        "Ignoring case, 100% match: the data and the annotation may be different species",
        "row 2 (sample 'atac1'), column 'file'",
        "3 of 4 peaks (75.0%) lie on contigs absent from annotation",
        "'chrUn_JH584304', 'chr1_GL456211_random', 'chrZ'",
    )
    few = write_h5ad(
        tmp_path / "few.h5ad", np.ones((N_CELLS, 4)), var_names=[*PEAKS[:3], "chrUn_JH584304:1-50"]
    )
    sheet = write_sheet(tmp_path, [("rna1", "rna", good_rna(tmp_path).name), ("atac1", "atac", few.name)])
    result = run_cli("validate", "--input", sheet, "--annotation", bed)
    assert result.exit_code == 0
    assert "WARNING: sample 'atac1': 1 of 4 peaks (25.0%) lie on contigs absent" in result.stderr
    result = run_cli("validate", "--input", sheet, "--annotation", tmp_path / "none.gtf")
    assert_user_error(result, "--annotation: annotation file", "none.gtf does not exist")


def test_failure_writes_no_output_and_keeps_an_existing_one(tmp_path, run_cli):
    sheet = write_sheet(
        tmp_path, [("rna1", "rna", "missing.h5ad"), ("atac1", "atac", str(good_atac(tmp_path)))]
    )
    out = tmp_path / "validated.csv"
    out.write_text("earlier result\n")
    assert_user_error(run_cli("validate", "--input", sheet, "--out", out), "missing.h5ad does not exist")
    assert out.read_text() == "earlier result\n"


def test_snare_seq_rna_and_atac_validate(tmp_path, run_cli, shared_data):
    rows = [
        ("snare_rna", "rna", str(shared_data / "snare_chen2019_mouse_cortex_rna.h5ad"), "mm10"),
        ("snare_atac", "atac", str(shared_data / "snare_chen2019_mouse_cortex_atac.h5ad"), "mm10"),
    ]
    sheet = write_sheet(tmp_path, rows, header="sample,modality,file,genome")
    out = tmp_path / "out" / "validated.csv"
    gtf = shared_data / "annotation" / "mm10_genes.gtf"
    result = run_cli("validate", "--input", sheet, "--annotation", gtf, "--out", out)
    assert result.exit_code == 0, result.output
    assert "snare_rna" in result.output and "10,309" in result.output and "25,734" in result.output
    assert read_samplesheet(out) == read_samplesheet(sheet)


def test_10x_folder_and_library_function(tmp_path):
    folder = tmp_path / "filtered_feature_bc_matrix"
    folder.mkdir()
    scipy.io.mmwrite(folder / "matrix.mtx", sparse.coo_matrix(rna_counts().T.astype(np.int64)))
    (folder / "features.tsv").write_text(
        "".join(f"id{i}\t{g}\tGene Expression\n" for i, g in enumerate(GENES))
    )
    (folder / "barcodes.tsv").write_text("".join(f"c{i}\n" for i in range(N_CELLS)))
    good_atac(tmp_path)
    rows = validate_samplesheet(
        write_sheet(tmp_path, [("rna1", "rna", folder.name), ("atac1", "atac", "atac.h5ad")])
    )
    assert [r.file for r in rows] == [folder, tmp_path / "atac.h5ad"]


def test_bin_script_exits_2_without_traceback(tmp_path):
    script = REPO / "bin" / "crossomics_validate.py"
    assert script.read_text().splitlines()[0] == "#!/usr/bin/env python3"
    sheet = write_sheet(tmp_path, [("a b", "rna", "x.h5ad"), ("a1", "atac", "y.h5ad")])
    done = subprocess.run(
        [sys.executable, script, "--input", sheet], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "sample id 'a b' contains ' '" in done.stderr
