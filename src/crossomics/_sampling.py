"""Seeded random subsets of rows: one rule wherever a step works on a sample of the cells."""

from __future__ import annotations

import numpy as np


def seeded_subset(n: int, max_n: int, seed: int) -> np.ndarray:
    """Sorted positions of ``max_n`` of ``n`` rows drawn with ``seed``; every row when ``n <= max_n`` or ``max_n <= 0``."""
    if max_n <= 0 or n <= max_n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_n, replace=False))
