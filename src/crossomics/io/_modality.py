"""Modality names in the samplesheet: the known ones, generic ones, and near misses of the known ones."""

from __future__ import annotations

import difflib
import re

from .._keys import KNOWN_MODALITIES

GENERIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Decorations around a known name that still mean that modality ("scRNA-seq", "snATAC", "ADTs").
_DECORATED = re.compile(r"^(?:sc|sn|single_?cell_?)?(?P<core>[a-z]+?)(?:_?seq|s)?$")
MIN_SUBSTITUTION_LEN = 4  # "atak" is a typo of "atac"; "dna" or "cna" are not typos of "rna"


def modality_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable modality, or ``None``.

    Case is ignored. ``rna``, ``atac`` and ``adt`` are known; any other ``[a-z][a-z0-9_]*`` name is a generic
    count modality unless it is a near miss of a known name (a decorated form, e.g. ``scrna`` or ``ATAC-seq``,
    or one insertion, deletion or swap of neighbouring letters away; one substitution for names of four
    letters or more), which is reported with the nearest known name.
    """
    name = value.strip().lower()
    if not name:
        return f"the modality is empty. Fix: write one of {', '.join(KNOWN_MODALITIES)} or a generic name."
    if name in KNOWN_MODALITIES:
        return None
    near = near_known_modality(name)
    if near:
        return (
            f"'{value}' is not a known modality; did you mean '{near}'? "
            f"Fix: write '{near}', or a clearly different name for a generic count modality."
        )
    if not GENERIC_NAME.match(name):
        return (
            f"'{value}' is not a valid modality name. Fix: use {', '.join(KNOWN_MODALITIES)}, or a generic "
            "name of letters, digits and '_' starting with a letter (e.g. 'methylation')."
        )
    return None


def near_known_modality(name: str) -> str | None:
    """The known modality that ``name`` (lower case) is a near miss of, or ``None``."""
    letters = re.sub(r"[^a-z0-9]", "", name)
    decorated = _DECORATED.match(letters)
    candidates = [k for k in KNOWN_MODALITIES if _one_edit(letters, k)]
    if decorated and decorated["core"] in KNOWN_MODALITIES:
        candidates.append(decorated["core"])
    if not candidates:
        return None
    return max(candidates, key=lambda k: difflib.SequenceMatcher(None, letters, k).ratio())


def _one_edit(a: str, b: str) -> bool:
    """``a`` is one insertion, deletion or neighbour swap from ``b`` (or one substitution, if long enough)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return len(b) >= MIN_SUBSTITUTION_LEN
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))
