"""Interval overlap by sorted search (numpy ``searchsorted``), per chromosome; no bedtools."""

from __future__ import annotations

import numpy as np
import pandas as pd


def contig_key(names: np.ndarray) -> np.ndarray:
    """Contig names compared without a leading ``chr`` (``chr1`` and ``1`` are the same contig)."""
    return (
        pd.Series(np.asarray(names), dtype=object).astype(str).str.replace(r"^chr", "", regex=True).to_numpy()
    )


def overlap_pairs(
    item_chrom: np.ndarray,
    item_start: np.ndarray,
    item_end: np.ndarray,
    region_chrom: np.ndarray,
    region_start: np.ndarray,
    region_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """All (item, region) index pairs whose half-open intervals overlap.

    Items (peaks, fragments) are sorted by start per contig; for each region the candidates are the items
    starting in ``(region_start - longest_item, region_end)``, found by two binary searches, and kept when
    they end after the region starts. Work is proportional to the number of candidates, so short items
    (peaks, fragments) against long regions (genes) are fast.

    Returns
    -------
    ``(item_index, region_index)`` as int64 arrays of equal length.
    """
    item_chrom = contig_key(item_chrom)
    region_chrom = contig_key(region_chrom)
    item_start = np.asarray(item_start, dtype=np.int64)
    item_end = np.asarray(item_end, dtype=np.int64)
    region_start = np.asarray(region_start, dtype=np.int64)
    region_end = np.asarray(region_end, dtype=np.int64)
    out_items, out_regions = [], []
    for chrom in np.intersect1d(np.unique(item_chrom), np.unique(region_chrom)):
        items = np.flatnonzero(item_chrom == chrom)
        regions = np.flatnonzero(region_chrom == chrom)
        order = items[np.argsort(item_start[items], kind="stable")]
        starts = item_start[order]
        longest = int((item_end[order] - starts).max())
        lo = np.searchsorted(starts, region_start[regions] - longest, side="right")
        hi = np.searchsorted(starts, region_end[regions], side="left")
        n = np.maximum(hi - lo, 0)
        if n.sum() == 0:
            continue
        region_rep = np.repeat(regions, n)
        offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        item_idx = order[np.repeat(lo, n) + offsets]
        keep = item_end[item_idx] > region_start[region_rep]
        out_items.append(item_idx[keep])
        out_regions.append(region_rep[keep])
    if not out_items:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_items), np.concatenate(out_regions)
