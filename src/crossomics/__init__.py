"""crossomics: single-cell multi-omics integration, generation, simulation and in-silico perturbation."""

from __future__ import annotations

__version__ = "0.1.0"
