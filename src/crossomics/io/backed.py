"""Count matrices read from disk a block of rows at a time (``--backed``), for data larger than memory.

:class:`BackedCounts` wraps the CSR counts of an ``.h5ad`` file (``layers/counts`` of a preprocessed sample)
without loading them: indexing by rows reads only those rows, so training draws its minibatches from disk and
holds one batch of counts at a time. AnnData holds the on-disk matrix itself (anndata's ``CSRDataset``) as a
layer (:func:`open_on_disk`). :func:`row_blocks`, :func:`row_sums` and :func:`max_value` stream over any count
matrix, in memory or on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp
from anndata.abc import CSRDataset

ROW_BLOCK = 8192  # rows read at once when streaming over a whole matrix


class BackedCounts:
    """A cells x features CSR matrix stored in an HDF5 file, read by rows on demand.

    ``counts[rows]`` (a slice, or integer positions in any order, repeats allowed) returns a scipy CSR
    matrix of those rows, in the order given.
    """

    def __init__(self, dataset: CSRDataset) -> None:
        if dataset.format != "csr":
            name = dataset.group.file.filename
            msg = f"{name}: counts stored as {dataset.format}; reading rows from disk needs CSR."
            raise ValueError(msg)
        self._data = dataset

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self._data.shape)

    def __getitem__(self, rows: slice | np.ndarray) -> sp.csr_matrix:
        if isinstance(rows, slice):
            return sp.csr_matrix(self._data[rows])
        rows = np.asarray(rows, dtype=np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)  # the file is read in increasing row order
        block = sp.csr_matrix(self._data[unique])
        return block if len(unique) == len(rows) and (np.diff(rows) > 0).all() else block[inverse]

    def blocks(self, size: int = ROW_BLOCK) -> Iterator[sp.csr_matrix]:
        """Consecutive blocks of ``size`` rows (one empty block for a matrix without rows)."""
        for start in range(0, max(self.shape[0], 1), size):
            yield self[start : start + size]

    def __repr__(self) -> str:
        return f"BackedCounts({self._data.group.file.filename!r}, shape={self.shape})"


Counts = sp.csr_matrix | BackedCounts


def open_on_disk(path: str | Path, key: str = "layers/counts") -> CSRDataset:
    """The CSR matrix at ``key`` of an HDF5 file, left on disk (AnnData accepts it as a layer;
    :class:`BackedCounts` reads rows of it)."""
    from anndata.io import sparse_dataset

    return sparse_dataset(h5py.File(path, "r")[key])


def row_blocks(counts: Counts | sp.spmatrix, size: int = ROW_BLOCK) -> Iterator[sp.spmatrix]:
    """Blocks of rows of an on-disk matrix; an in-memory matrix whole, as one block."""
    if isinstance(counts, BackedCounts):
        yield from counts.blocks(size)
    else:
        yield counts


def row_sums(counts: Counts, *, binary: bool = False) -> np.ndarray:
    """Per-cell totals (float32): counts, or detected features when ``binary``."""
    return np.concatenate(
        [np.asarray(((b > 0) if binary else b).sum(1), dtype=np.float32).ravel() for b in row_blocks(counts)]
    )


def column_sums(counts: Counts, *, binary: bool = False) -> np.ndarray:
    """Per-feature totals (float64): counts, or cells with the feature when ``binary``."""
    out = np.zeros(counts.shape[1])
    for b in row_blocks(counts):
        out += np.asarray(((b > 0) if binary else b).sum(axis=0), np.float64).ravel()
    return out


def max_value(counts: Counts) -> float:
    """The largest stored value (0 for an empty matrix)."""
    return max((float(b.data.max()) for b in map(sp.csr_matrix, row_blocks(counts)) if b.nnz), default=0.0)
