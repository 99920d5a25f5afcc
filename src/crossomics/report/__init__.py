"""The run report: MultiQC custom content built from the output layout, rendered to ``DIR/multiqc/``."""

from __future__ import annotations

from .multiqc import build_inputs, run_report

__all__ = ["build_inputs", "run_report"]
