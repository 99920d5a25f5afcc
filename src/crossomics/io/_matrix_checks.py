"""Checks of one sample's matrix: shape, count values, unique names, peak names. Each returns problems."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._keys import MODALITY_ATAC
from .peaks import PEAK_FORMATS, peak_examples, split_peak_names
from .samplesheet import SampleRow

N_EXAMPLES = 3
FIX_NON_COUNTS = (
    "Fix: point file to the raw counts (often in layers['counts'] or .raw of the same file), or set "
    "allow_non_counts=true for this row if the values are deliberately not counts"
)


def matrix_problems(adata: ad.AnnData, row: SampleRow) -> list[str]:
    """Every problem of ``adata`` read for ``row`` (texts without the row prefix)."""
    if adata.n_obs == 0 or adata.n_vars == 0:
        what = "zero cells" if adata.n_obs == 0 else "zero features"
        return [
            f"the matrix has {what} ({adata.n_obs} x {adata.n_vars}). Fix: point file to a non-empty matrix."
        ]
    problems = []
    if adata.n_vars == 1:
        problems.append(
            f"the matrix has a single feature ('{adata.var_names[0]}'); a modality needs many. "
            "Fix: check that file holds the full cells x features matrix (not transposed or summarised)."
        )
    problems += value_problems(
        adata.X, adata.obs_names, adata.var_names, allow_non_counts=row.allow_non_counts
    )
    problems += duplicate_problems(adata.obs_names, "cell barcodes", "make barcodes unique, e.g. prefix them")
    problems += duplicate_problems(
        adata.var_names,
        "feature names",
        "make names unique (anndata var_names_make_unique) or drop duplicates",
    )
    if row.modality == MODALITY_ATAC:
        _, bad = split_peak_names(adata.var_names)
        if bad:
            problems.append(
                f"{len(bad):,} of {adata.n_vars:,} ATAC feature names are not peaks ({peak_examples(bad)}). "
                f"Fix: name peaks {PEAK_FORMATS}, or correct the modality column."
            )
    return problems


def value_problems(
    X: sparse.csr_matrix, obs_names: pd.Index, var_names: pd.Index, *, allow_non_counts: bool
) -> list[str]:
    """NaN/inf always; negative and non-integer values unless ``allow_non_counts`` (stored values only)."""
    data = X.data
    signed = np.issubdtype(data.dtype, np.signedinteger)
    if not np.issubdtype(data.dtype, np.floating) and (
        allow_non_counts or not signed or data.min(initial=0) >= 0
    ):
        return []
    problems = []
    finite = np.isfinite(data)
    rules = [
        (~finite, "NaN or infinite", "Fix: replace them with the measured values; NaN/inf are never valid")
    ]
    if not allow_non_counts:
        rules += [
            (data < 0, "negative, not counts", FIX_NON_COUNTS),
            (
                finite & (data != np.round(data)),
                "not whole numbers, not counts (normalised data?)",
                FIX_NON_COUNTS,
            ),
        ]
    for mask, what, fix in rules:
        n_bad = int(np.count_nonzero(mask))
        if n_bad:
            k = int(np.flatnonzero(mask)[0])
            cell = int(np.searchsorted(X.indptr, k, side="right") - 1)
            first = (
                f"e.g. {float(data[k]):g} at cell '{obs_names[cell]}', feature '{var_names[X.indices[k]]}'"
            )
            problems.append(f"{n_bad:,} values are {what} ({first}). {fix}.")
    return problems


def duplicate_problems(names: pd.Index, what: str, fix: str) -> list[str]:
    """One problem when ``names`` holds duplicates, with the count and the first few."""
    dup = names[names.duplicated()]
    if dup.empty:
        return []
    shown = ", ".join(repr(n) for n in pd.unique(dup)[:N_EXAMPLES])
    return [f"{len(dup):,} duplicated {what} ({shown}). Fix: {fix}."]
