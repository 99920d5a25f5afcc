"""Read one count matrix (``.h5ad``, 10x ``.h5``, ``.h5mu``, 10x ``matrix.mtx`` folder) as cells x features.

Readers never densify and never rename: ``X`` is CSR with the stored values, and duplicated names are kept
for :mod:`crossomics.io.validate` to report. Any failure to read a user's file is an
:class:`~crossomics.errors.InputError` naming the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from scipy import sparse

from .._keys import KEYS, MODALITY_ADT, MODALITY_ATAC, MODALITY_RNA
from .._sampling import seeded_subset
from ..errors import InputError
from ._tenx import FEATURE_TYPE, MTX_NAMES, is_mtx_folder, read_10x_h5, read_10x_mtx
from .peaks import split_peak_names
from .samplesheet import SampleRow

FORMAT_H5AD = "h5ad"
FORMAT_10X_H5 = "10x h5"
FORMAT_H5MU = "h5mu"
FORMAT_MTX = "10x mtx folder"
SUFFIX_FORMATS = {".h5ad": FORMAT_H5AD, ".h5": FORMAT_10X_H5, ".h5mu": FORMAT_H5MU}
# 10x feature_type of each known modality, to pick one modality out of a multi-modal 10x file
TENX_FEATURE_TYPES = {
    MODALITY_RNA: "Gene Expression",
    MODALITY_ATAC: "Peaks",
    MODALITY_ADT: "Antibody Capture",
}
FIX_PATH = (
    "Fix: correct the path in the samplesheet (relative paths resolve against the samplesheet's folder)."
)


def read_matrix(
    path: str | os.PathLike, *, modality: str | None = None, mudata_key: str | None = None
) -> ad.AnnData:
    """Read a count matrix file or 10x folder into a cells x features AnnData.

    Parameters
    ----------
    path
        ``.h5ad``, CellRanger v3 ``.h5``, ``.h5mu``, or a folder with ``matrix.mtx(.gz)`` (or that file).
    modality
        The samplesheet modality. It picks the features of that type out of a multi-modal 10x file and is
        the default MuData key.
    mudata_key
        Which modality of a ``.h5mu`` file to read (default: ``modality``).

    Returns
    -------
    AnnData with CSR ``X`` holding the stored values. ``var["feature_type"]`` is kept from 10x files;
    ``var["chrom"]``, ``var["chromStart"]``, ``var["chromEnd"]`` are set when every feature name is a peak
    (not for rna or adt).

    Raises
    ------
    InputError
        When the file is missing, unreadable, empty, truncated, of an unknown or wrong format, or lacks the
        requested modality.
    """
    path = Path(path)
    fmt, target = _locate(path)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*names are not unique")
            adata = _read(fmt, target, modality, mudata_key)
    except InputError:
        raise
    except Exception as err:  # any failure to parse a user's file is bad input, not a crash
        msg = (
            f"{path} could not be read as {fmt} ({type(err).__name__}: {err}). "
            f"Fix: check that it is a complete {fmt} file (re-export or re-copy it)."
        )
        raise InputError(msg) from err
    return _standardise(adata, path, modality)


def read_cell_subset(path: str | Path, max_cells: int, *, seed: int = 0) -> ad.AnnData:
    """An h5ad file's cells, or a seeded random ``max_cells`` of them (in file order), reading only those rows:
    for scores and plots that need a sample of a large dataset, not all of it in memory."""
    backed = ad.read_h5ad(path, backed="r")
    try:
        return backed[seeded_subset(backed.n_obs, max_cells, seed)].to_memory()
    finally:
        backed.file.close()


def read_preprocessed(path: str | Path, *, backed: bool = False) -> ad.AnnData:
    """A preprocessed sample (``preprocess/<sample>.h5ad``) for training.

    Reads obs, var, obsm, uns and the raw counts in ``layers["counts"]``, not ``X`` (the normalised values,
    which training never reads). With ``backed`` the counts stay on disk (anndata's ``CSRDataset``, read by
    rows through :class:`crossomics.io.backed.BackedCounts`); otherwise they are loaded (CSR).
    """
    from anndata.io import read_elem

    from .backed import open_on_disk

    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        msg = f"{path}: cannot be read as an .h5ad file ({err}). Fix: rerun `crossomics preprocess` to rewrite it."
        raise InputError(msg) from None
    with handle as f:
        if f"layers/{KEYS.counts}" not in f or "obs" not in f or "var" not in f:
            msg = (
                f"{path}: not a preprocessed sample (no layers/{KEYS.counts}, obs or var). "
                "Fix: write it with `crossomics preprocess` (or `crossomics run`), not by hand."
            )
            raise InputError(msg)
        parts = {key: read_elem(f[key]) for key in ("obs", "var", "obsm", "uns") if key in f}
        counts = None if backed else sparse.csr_matrix(read_elem(f["layers"][KEYS.counts]))
    if backed:
        counts = open_on_disk(path, f"layers/{KEYS.counts}")
    layers = {KEYS.counts: counts}
    return ad.AnnData(obs=parts["obs"], var=parts["var"], obsm=parts.get("obsm"), uns=parts.get("uns"), layers=layers)


def read_sample(row: SampleRow) -> ad.AnnData:
    """Read the file of one samplesheet row.

    Returns
    -------
    As :func:`read_matrix`, plus ``obs["sample"]``, and ``obs["batch"]`` / ``obs["condition"]`` from the
    row when given there (otherwise columns of those names in the file are kept).

    Raises
    ------
    InputError
        Any read failure, prefixed with the row, the sample and the ``file`` column.
    """
    try:
        adata = read_matrix(row.file, modality=row.modality, mudata_key=row.mudata_key)
    except InputError as err:
        msg = f"samplesheet row {row.row} (sample '{row.sample}'), column 'file': {err}"
        raise InputError(msg) from None
    n = adata.n_obs
    adata.obs[KEYS.sample] = pd.Categorical([row.sample] * n)
    for key, value in ((KEYS.batch, row.batch), (KEYS.condition, row.condition)):
        if value is not None:
            adata.obs[key] = pd.Categorical([value] * n)
    return adata


def detect_format(path: Path) -> str:
    """The format of an existing ``path``: one of ``h5ad``, ``10x h5``, ``h5mu``, ``10x mtx folder``."""
    if path.is_dir():
        if is_mtx_folder(path):
            return FORMAT_MTX
        msg = (
            f"{path} is a folder without {' or '.join(MTX_NAMES)}. Fix: point file to a matrix or 10x folder."
        )
        raise InputError(msg)
    if path.name in MTX_NAMES:
        return FORMAT_MTX
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        msg = (
            f"{path}: unknown file type '{path.suffix}'. Fix: give a .h5ad, 10x .h5, .h5mu file, "
            "or a 10x folder with matrix.mtx(.gz), features.tsv(.gz) and barcodes.tsv(.gz)."
        )
        raise InputError(msg)
    return fmt


def _locate(path: Path) -> tuple[str, Path]:
    """Check that ``path`` can be opened; return its format and what to open (the folder for mtx)."""
    if not path.exists():
        raise InputError(f"{path} does not exist. {FIX_PATH}")
    if not os.access(path, os.R_OK):
        msg = f"{path} cannot be read (permission denied). Fix: make it readable (chmod a+r) for this user."
        raise InputError(msg)
    fmt = detect_format(path)
    if fmt == FORMAT_MTX:
        return fmt, path if path.is_dir() else path.parent
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes). Fix: re-export or re-copy the file.")
    if not h5py.is_hdf5(path):
        msg = (
            f"{path} is not an HDF5 file, so not a valid {fmt} (truncated copy, or another format renamed). "
            "Fix: re-copy the complete file, or convert it to .h5ad."
        )
        raise InputError(msg)
    return fmt, path


def _read(fmt: str, path: Path, modality: str | None, mudata_key: str | None) -> ad.AnnData:
    if fmt == FORMAT_H5AD:
        return ad.read_h5ad(path)
    if fmt == FORMAT_10X_H5:
        return read_10x_h5(path)
    if fmt == FORMAT_MTX:
        return read_10x_mtx(path)
    return _read_h5mu(path, mudata_key or modality)


def _read_h5mu(path: Path, key: str | None) -> ad.AnnData:
    import mudata

    with h5py.File(path, "r") as f:
        keys = sorted(f["mod"].keys()) if "mod" in f else []
    if not keys:
        raise InputError(
            f"{path} has no modalities ('mod' group). Fix: give a MuData .h5mu file or an .h5ad."
        )
    if key not in keys:
        what = f"has no modality '{key}'" if key else "holds several modalities"
        msg = f"{path} {what} (it has: {', '.join(keys)}). Fix: set the mudata_key column to one of these."
        raise InputError(msg)
    return mudata.read_h5ad(path, key)


def _standardise(adata: ad.AnnData, path: Path, modality: str | None) -> ad.AnnData:
    """CSR ``X``, string names, one 10x feature type, peak coordinates."""
    if adata.X is None:
        raise InputError(f"{path} has no X matrix. Fix: store the counts in X.")
    X = adata.X
    adata.X = sparse.csr_matrix(X if sparse.issparse(X) else np.asarray(X))
    adata.obs_names = adata.obs_names.astype(str)
    adata.var_names = adata.var_names.astype(str)
    adata = _select_feature_type(adata, path, modality)
    if modality not in (MODALITY_RNA, MODALITY_ADT):
        coords, bad = split_peak_names(adata.var_names)
        if not bad and adata.n_vars:
            adata.var[KEYS.chrom] = coords[KEYS.chrom].astype(str).to_numpy()
            for column in (KEYS.chrom_start, KEYS.chrom_end):
                adata.var[column] = coords[column].to_numpy(dtype="int64")
    return adata


def _select_feature_type(adata: ad.AnnData, path: Path, modality: str | None) -> ad.AnnData:
    """Keep the features of ``modality``'s 10x type when a file mixes several feature types."""
    wanted = TENX_FEATURE_TYPES.get(modality or "")
    if FEATURE_TYPE not in adata.var or wanted is None:
        return adata
    present = pd.unique(adata.var[FEATURE_TYPE].astype(str))
    if len(present) < 2:
        return adata
    keep = (adata.var[FEATURE_TYPE] == wanted).to_numpy()
    if not keep.any():
        msg = (
            f"{path} has feature types {', '.join(present)} but no '{wanted}' for modality '{modality}'. "
            "Fix: correct the modality column or the file."
        )
        raise InputError(msg)
    return adata[:, keep].copy()
