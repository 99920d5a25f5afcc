"""Feature-to-gene tables: the shipped CITE-seq antibody table, or a user's TSV, matched to feature names.

A table has a header line, then ``feature<TAB>genes`` rows (genes comma-separated: complexes such as CD3 or
pan-isoform antibodies list several); ``#`` lines are comments. Names match ignoring case, spaces and
punctuation after TotalSeq/ADT prefixes and suffixes are removed; ``"Name (Alias)"`` tries ``Name`` then
``Alias`` (e.g. ``B220 (CD45R)``, ``IL7Ralpha (CD127)``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import pandas as pd

from ..errors import InputError

log = logging.getLogger("crossomics")

_PREFIX = re.compile(r"^(ANTI[-_ ]?(HUMAN|MOUSE)[-_ .]*|HU[._]|HUMAN[-_]|MOUSE[-_]|ADT[-_])")
_SUFFIX = re.compile(r"[-_ .]*(TOTALSEQ[-_]?[ABCD]?|TOTAL[ABCD]|PROT|PROTEIN|ADT|ANTIBODY)$")


def antibody_keys(name: str) -> list[str]:
    """Normalised lookup keys of one feature name, most specific first."""
    text = _SUFFIX.sub("", _PREFIX.sub("", str(name).strip().upper()))
    outside = re.sub(r"\([^)]*\)", " ", text)
    inside = re.findall(r"\(([^)]*)\)", text)
    keys = [_squash(text), _squash(outside), *(_squash(p) for p in inside)]
    return [k for k in dict.fromkeys(keys) if k]


def _squash(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def read_feature_mapping(path: str | Path | None = None) -> pd.DataFrame:
    """Read a feature-to-gene table (``None``: the shipped CITE-seq antibody table).

    Returns
    -------
    Long table with columns ``feature`` and ``gene``, one row per (feature, gene) pair.
    """
    if path is None:
        ref = resources.files("crossomics") / "data" / "protein_to_gene.tsv"
        with resources.as_file(ref) as shipped:
            return _read(Path(shipped))
    path = Path(path)
    if not path.is_file():
        msg = f"mapping file {path} does not exist: pass a TSV with a header and feature<TAB>genes rows."
        raise InputError(msg)
    return _read(path)


def _read(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", comment="#", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        msg = f"mapping file {path} cannot be read as a tab-separated table ({err}): use feature<TAB>genes."
        raise InputError(msg) from None
    if table.shape[1] < 2 or table.empty:
        msg = (
            f"mapping file {path}: needs a header line and at least one feature<TAB>genes row, "
            f"found {table.shape[1]} column(s) and {len(table)} row(s)."
        )
        raise InputError(msg)
    pairs = table.iloc[:, :2].set_axis(["feature", "gene"], axis=1)
    pairs = pairs.assign(gene=pairs["gene"].str.split(",")).explode("gene")
    pairs["gene"] = pairs["gene"].str.strip()
    pairs = pairs[(pairs["feature"].str.strip() != "") & (pairs["gene"] != "")]
    return pairs.drop_duplicates().reset_index(drop=True)


def map_features(
    names: Sequence[str], table: pd.DataFrame, *, source: str = "the features", warn: bool = True
) -> pd.DataFrame:
    """Match feature names (e.g. antibodies) to a table from :func:`read_feature_mapping`.

    Returns
    -------
    Long table with columns ``feature`` (spelled as in ``names``) and ``gene``; names with no entry are
    left out (with one warning listing them when ``warn``).
    """
    genes_by_key: dict[str, list[str]] = {}
    for feature, group in table.groupby("feature", sort=False):
        for key in antibody_keys(feature)[:1]:
            genes_by_key.setdefault(key, list(group["gene"]))
    rows, unmatched = [], []
    for name in names:
        hit = next((genes_by_key[k] for k in antibody_keys(name) if k in genes_by_key), None)
        if hit is None:
            unmatched.append(str(name))
        else:
            rows.extend((str(name), gene) for gene in hit)
    if unmatched and warn:
        log.warning(
            "%d of %d features of %s have no gene in the mapping (%s); pass --mapping with a "
            "feature<TAB>genes TSV to link them (isotype controls need none)",
            len(unmatched),
            len(names),
            source,
            ", ".join(unmatched[:8]),
        )
    return pd.DataFrame(rows, columns=["feature", "gene"])
