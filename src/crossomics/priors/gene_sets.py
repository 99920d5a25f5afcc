"""Gene-set scores per cell from GMT files.

Score: the mean, over the set's genes present in the data, of each gene's z-scored log expression
(``log1p`` of counts per 10k, centred and scaled per gene over the cells). We chose it over AUCell-like
ranks because it is linear: all sets are scored with one sparse product,
``scores = logexpr @ W - offset`` with ``W[g, s] = 1 / (sd_g * n_s)`` and
``offset_s = sum(mean_g / sd_g) / n_s``, so the matrix is never densified; and z-scoring weights every
gene equally, so one highly expressed gene does not dominate a set. Ranks need a per-cell sort of every
gene, and in sparse single-cell data most genes of a cell tie at zero, so ranks carry little beyond
detection. For ATAC, score the gene activity matrix (:mod:`crossomics.priors.gene_activity`) the same way.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._keys import KEYS
from ..errors import InputError
from ._matrix import column_mean_sd, log_normalise, raw_counts

log = logging.getLogger("crossomics")

METHOD = "mean z-scored log1p(counts per 10k) over the set's genes present"


def read_gmt(path: str | Path) -> dict[str, list[str]]:
    """Read a GMT file (``name<TAB>description<TAB>gene<TAB>gene...`` per line; ``.gz`` allowed).

    Blank and ``#`` lines are skipped; lines with fewer than three tab-separated fields and repeated set
    names are skipped with one warning each kind.

    Returns
    -------
    Set name to its genes (unique, in file order).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"GMT file {path} does not exist: pass gene-set files with --gmt."
        raise InputError(msg)
    opener = gzip.open if path.name.endswith(".gz") else open
    sets: dict[str, list[str]] = {}
    malformed, repeated = [], []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if not line.strip() or line.startswith("#"):
                    continue
                fields = [f.strip() for f in line.split("\t")]
                genes = [g for g in fields[2:] if g]
                if len(fields) < 3 or not fields[0] or not genes:
                    malformed.append(number)
                elif fields[0] in sets:
                    repeated.append(number)
                else:
                    sets[fields[0]] = list(dict.fromkeys(genes))
    except (UnicodeDecodeError, OSError, EOFError) as err:
        msg = f"GMT file {path} is not a text GMT file ({err}); unpack it or pass the .gmt itself."
        raise InputError(msg) from None
    if malformed:
        log.warning(
            "GMT file %s: %d lines skipped, not 'name<TAB>description<TAB>genes...' (lines %s)",
            path,
            len(malformed),
            ", ".join(map(str, malformed[:5])),
        )
    if repeated:
        log.warning(
            "GMT file %s: %d repeated set names skipped, the first kept (lines %s)",
            path,
            len(repeated),
            ", ".join(map(str, repeated[:5])),
        )
    if not sets:
        msg = (
            f"GMT file {path} holds no gene set (empty, or no line has the form "
            "name<TAB>description<TAB>genes...); pass a GMT file with tab-separated fields."
        )
        raise InputError(msg)
    return sets


def read_gmts(paths: Sequence[str | Path]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Read several GMT files; a set name seen in an earlier file is prefixed ``<file stem>:``.

    Returns
    -------
    Set name to genes, and set name to the file it came from.
    """
    sets: dict[str, list[str]] = {}
    origin: dict[str, str] = {}
    for path in paths:
        for name, genes in read_gmt(path).items():
            key = name if name not in sets else f"{Path(path).name.split('.')[0]}:{name}"
            sets[key] = genes
            origin[key] = str(path)
    return sets, origin


def score_gene_sets(
    adata: AnnData,
    gene_sets: Mapping[str, Sequence[str]],
    *,
    min_genes: int = 5,
    max_genes: int = 500,
    case_insensitive: bool = True,
    origin: Mapping[str, str] | None = None,
    source: str = "the expression data",
) -> AnnData:
    """Score every cell for every gene set (see the module docstring for the score).

    Parameters
    ----------
    adata
        Cells x genes, raw counts in ``layers["counts"]`` if present, else ``X`` (RNA counts or gene
        activity).
    gene_sets
        Set name to gene symbols (e.g. from :func:`read_gmts`).
    min_genes, max_genes
        Sets with fewer / more genes present (expressed in at least one cell with varying level) are skipped.
    case_insensitive
        Match symbols ignoring letter case (upper-case mouse GMTs against ``Cd3e``-style symbols).
    origin
        Set name to its file, stored in ``var["source"]``.
    source
        Name of the input, used in messages.

    Returns
    -------
    A new AnnData, cells x sets: ``X`` scores (dense float32); ``obs`` copied from ``adata``;
    ``var[source, n_genes, n_genes_present]``; ``uns["crossomics_gene_sets"]`` with the method, thresholds and
    the numbers of sets used and skipped.
    """
    logexpr = log_normalise(raw_counts(adata))
    mean, sd = column_mean_sd(logexpr)
    names = np.asarray(adata.var_names, dtype=str)
    keys = np.char.upper(names) if case_insensitive else names
    usable = pd.Series(np.arange(len(names)), index=keys)[sd > 0]
    usable = usable[~usable.index.duplicated()]
    rows, cols, kept, sizes, present = [], [], [], [], []
    n_overlap = n_few = n_many = 0
    for name, genes in gene_sets.items():
        query = (
            np.char.upper(np.asarray(genes, dtype=str)) if case_insensitive else np.asarray(genes, dtype=str)
        )
        idx = np.unique(usable.reindex(query).dropna().to_numpy(np.int64))
        n_overlap += len(idx) > 0
        if len(idx) < min_genes:
            n_few += 1
            continue
        if len(idx) > max_genes:
            n_many += 1
            continue
        rows.append(idx)
        cols.append(np.full(len(idx), len(kept)))
        kept.append(name)
        sizes.append(len(genes))
        present.append(len(idx))
    if not kept:
        files = sorted(set((origin or {}).values()))
        msg = _no_sets_message(
            gene_sets, files, names, source, n_overlap, min_genes, max_genes, case_insensitive
        )
        raise InputError(msg)
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    n_present = np.asarray(present, dtype=np.float64)
    weight = sp.csr_matrix(
        (1.0 / (sd[row] * n_present[col]), (row, col)), shape=(len(names), len(kept)), dtype=np.float32
    )
    offset = np.bincount(col, weights=mean[row] / sd[row], minlength=len(kept)) / n_present
    scores = np.asarray((logexpr @ weight).toarray(), dtype=np.float32) - offset.astype(np.float32)
    var = pd.DataFrame(
        {
            "source": [str((origin or {}).get(k, "")) for k in kept],
            "n_genes": sizes,
            "n_genes_present": present,
        },
        index=pd.Index(kept, dtype=str),
    )
    stats = {
        "method": METHOD,
        "min_genes": min_genes,
        "max_genes": max_genes,
        "case_insensitive": case_insensitive,
        "n_sets_read": len(gene_sets),
        "n_sets_used": len(kept),
        "n_sets_skipped_too_few_genes": n_few,
        "n_sets_skipped_too_many_genes": n_many,
        "files": sorted(set((origin or {}).values())),
    }
    log.info(
        "gene sets: %d of %d used; %d skipped with < %d genes present, %d with > %d",
        len(kept),
        len(gene_sets),
        n_few,
        min_genes,
        n_many,
        max_genes,
    )
    return AnnData(X=scores, obs=adata.obs.copy(), var=var, uns={KEYS.gene_sets: stats})


def _no_sets_message(
    gene_sets: Mapping[str, Sequence[str]],
    files: list[str],
    names: np.ndarray,
    source: str,
    n_overlap: int,
    min_genes: int,
    max_genes: int,
    case_insensitive: bool,
) -> str:
    where = f" in GMT file {', '.join(files)}" if files else ""
    example_set = list(next(iter(gene_sets.values()), []))
    if n_overlap == 0:
        return (
            f"no gene of the {len(gene_sets)} gene sets{where} is among the {len(names)} genes of {source} "
            f"(sets list e.g. {', '.join(example_set[:3])}; data has e.g. {', '.join(names[:3])}): use gene "
            "sets of the same species and gene identifier type (symbols)"
            + ("" if case_insensitive else ", or match case-insensitively")
            + "."
        )
    return (
        f"no gene set{where} has between {min_genes} and {max_genes} genes present in {source} "
        f"({n_overlap} sets share at least one gene): lower --min-genes or raise --max-genes."
    )
