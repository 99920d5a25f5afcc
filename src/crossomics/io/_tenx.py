"""10x Genomics count matrices, CellRanger v3 HDF5 (``.h5``) and ``matrix.mtx`` folders, read with h5py."""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.io
from scipy import sparse

from ..errors import InputError

FEATURE_TYPE = "feature_type"
GENE_IDS = "gene_ids"
MTX_NAMES = ("matrix.mtx.gz", "matrix.mtx")
FEATURE_NAMES = ("features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv")
BARCODE_NAMES = ("barcodes.tsv.gz", "barcodes.tsv")


def read_10x_h5(path: Path) -> ad.AnnData:
    """Read a CellRanger v3 ``.h5`` (``matrix/{data,indices,indptr,shape,barcodes,features/...}``).

    Returns
    -------
    Cells x features AnnData: CSR ``X`` as stored; ``var_names`` from ``features/name``; ``var["gene_ids"]``
    from ``features/id``; ``var["feature_type"]`` when the file has it.
    """
    with h5py.File(path, "r") as f:
        if "matrix" not in f:
            msg = (
                f"{path} is HDF5 but not a CellRanger v3 .h5 (no 'matrix' group; found "
                f"{sorted(f.keys())[:5]}). Fix: give the filtered_feature_bc_matrix.h5 of CellRanger 3 or "
                "later, or convert it to .h5ad."
            )
            raise InputError(msg)
        g = f["matrix"]
        n_features, n_cells = (int(n) for n in g["shape"][:])
        # stored features x cells in CSC order, whose transpose is cells x features in CSR order
        by_cell = sparse.csc_matrix(
            (g["data"][:], g["indices"][:], g["indptr"][:]), shape=(n_features, n_cells)
        )
        barcodes = _strings(g["barcodes"][:])
        feats = g["features"]
        var = pd.DataFrame({GENE_IDS: _strings(feats["id"][:])}, index=pd.Index(_strings(feats["name"][:])))
        if FEATURE_TYPE in feats:
            var[FEATURE_TYPE] = _strings(feats[FEATURE_TYPE][:])
    return _assemble(path, sparse.csr_matrix(by_cell.T), barcodes, var)


def read_10x_mtx(folder: Path) -> ad.AnnData:
    """Read a 10x folder: ``matrix.mtx``, ``features.tsv`` or ``genes.tsv``, ``barcodes.tsv`` (or ``.gz``).

    Returns
    -------
    Cells x features AnnData: CSR ``X`` (the features x cells file transposed); ``var_names`` from the second
    feature column (the first when there is one); ``var["gene_ids"]``; ``var["feature_type"]`` when present.
    """
    matrix_file = _first_present(folder, MTX_NAMES)
    with _open(matrix_file, "rb") as fh:
        by_feature = scipy.io.mmread(fh)
    if not sparse.issparse(by_feature):
        msg = f"{matrix_file} is a dense (array) Matrix Market file. Fix: write it in coordinate format."
        raise InputError(msg)
    table = _read_tsv(_first_present(folder, FEATURE_NAMES))
    names = table[1] if table.shape[1] > 1 else table[0]
    var = pd.DataFrame({GENE_IDS: table[0].to_numpy()}, index=pd.Index(names.to_numpy()))
    if table.shape[1] > 2:
        var[FEATURE_TYPE] = table[2].to_numpy()
    barcodes = _read_tsv(_first_present(folder, BARCODE_NAMES))[0].tolist()
    return _assemble(folder, sparse.csr_matrix(by_feature.T), barcodes, var)


def is_mtx_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a 10x ``matrix.mtx(.gz)``."""
    return any((folder / n).is_file() for n in MTX_NAMES)


def _assemble(path: Path, X: sparse.csr_matrix, barcodes: list[str], var: pd.DataFrame) -> ad.AnnData:
    if X.shape != (len(barcodes), len(var)):
        msg = (
            f"{path}: the matrix is {X.shape[1]:,} features x {X.shape[0]:,} cells but there are "
            f"{len(var):,} feature names and {len(barcodes):,} barcodes. "
            "Fix: use the matching files of one run."
        )
        raise InputError(msg)
    obs = pd.DataFrame(index=pd.Index(barcodes, dtype=object))
    var.index = var.index.astype(str)
    return ad.AnnData(X=X, obs=obs, var=var)


def _first_present(folder: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    msg = f"10x folder {folder} has none of {', '.join(names)}. Fix: point file to a complete 10x folder."
    raise InputError(msg)


def _open(path: Path, mode: str):
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def _read_tsv(path: Path) -> pd.DataFrame:
    with _open(path, "rt") as fh:
        return pd.read_csv(fh, sep="\t", header=None, dtype=str, keep_default_na=False, quoting=3)


def _strings(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
