"""Peak names (``chr1:100-200``, ``chr1_100_200``, ``chr1-100-200``) to BED-like coordinates."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .._keys import KEYS
from ..errors import InputError

# The chromosome is everything before the last two numeric fields, so contigs that contain the separator
# (``chrUn_GL456216_1_10``, ``chr4-GL456216-random-1-10``) parse unambiguously. Positions are limited to
# 15 ASCII digits so that every match fits in int64.
_POS = r"([0-9]{1,15})"
PEAK_PATTERNS = (
    rf"^(\S+):{_POS}-{_POS}$",
    rf"^(\S+)_{_POS}_{_POS}$",
    rf"^(\S+)-{_POS}-{_POS}$",
)
PEAK_FORMATS = "'chr1:100-200', 'chr1_100_200' or 'chr1-100-200'"
N_EXAMPLES = 5


def split_peak_names(names: Iterable[str]) -> tuple[pd.DataFrame, list[str]]:
    """Parse peak names, keeping the ones that fail aside instead of raising.

    Parameters
    ----------
    names
        Feature names, one per peak.

    Returns
    -------
    ``(coords, bad)``: ``coords`` has one row per name (index: the names) and columns ``chrom``,
    ``chromStart``, ``chromEnd``; rows of unparseable names hold missing values. ``bad`` lists those names,
    in input order (a name is bad when it matches no format or its end lies before its start).
    """
    series = pd.Series([str(n) for n in names], dtype=object)
    parts = pd.DataFrame(index=series.index, columns=[0, 1, 2], dtype=object)
    for pattern in PEAK_PATTERNS:
        todo = parts[0].isna()
        if not todo.any():
            break
        found = series[todo].str.extract(pattern, expand=True)
        parts.loc[todo] = found.to_numpy()
    start = pd.to_numeric(parts[1], errors="coerce").astype("Int64")
    end = pd.to_numeric(parts[2], errors="coerce").astype("Int64")
    ok = parts[0].notna() & (end >= start).fillna(False)
    coords = pd.DataFrame(
        {
            KEYS.chrom: parts[0].where(ok),
            KEYS.chrom_start: start.where(ok),
            KEYS.chrom_end: end.where(ok),
        }
    )
    coords.index = pd.Index(series.to_numpy(), dtype=object)
    return coords, series[~ok].tolist()


def parse_peak_names(names: Iterable[str], *, where: str = "peak names") -> pd.DataFrame:
    """Parse peak names into BED-like coordinates; every name must parse.

    Parameters
    ----------
    names
        Feature names such as ``chr1:100-200``, ``chr1_100_200`` or ``chr1-100-200``; contigs may contain
        ``_`` or ``-`` (``chrUn_GL456216:1-10``, ``chr4-GL456216-random:1-10``).
    where
        What the names are, for the error message (e.g. a file name).

    Returns
    -------
    A frame indexed by the names with columns ``chrom`` (str), ``chromStart`` and ``chromEnd`` (int64).

    Raises
    ------
    InputError
        Naming the first few names that are not peaks.
    """
    coords, bad = split_peak_names(names)
    if bad:
        msg = (
            f"{where}: {len(bad):,} of {len(coords):,} feature names are not peaks "
            f"({peak_examples(bad)}). Fix: name peaks {PEAK_FORMATS} (chromosome, start, end >= start)."
        )
        raise InputError(msg)
    return coords.astype({KEYS.chrom: str, KEYS.chrom_start: "int64", KEYS.chrom_end: "int64"})


def peak_examples(bad: list[str]) -> str:
    """The first few bad names, quoted, for an error message."""
    shown = ", ".join(repr(b) for b in bad[:N_EXAMPLES])
    return shown + (", ..." if len(bad) > N_EXAMPLES else "")
