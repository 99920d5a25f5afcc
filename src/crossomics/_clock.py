"""Seconds spent on the named parts of one stage (training, scoring, the joint UMAP ...).

``crossomics run`` records them in ``pipeline_info/params.json`` (``stage_part_seconds``): a run shows where
its time went, and benchmarks can leave out work a peer tool does not do (its own scoring and plots).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class PartClock:
    """Accumulates wall seconds per part name; :meth:`part` times one block."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to part ``name`` (also when the block raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def rounded(self, digits: int = 2) -> dict[str, float]:
        """The seconds per part, rounded for reports."""
        return {k: round(v, digits) for k, v in self.seconds.items()}
