"""Data made by crossomics itself: the demo simulator (deterministic with a seed, ground truth included)."""

from __future__ import annotations

from .synthetic import Demo, DemoSample, simulate_demo, write_demo

__all__ = ["Demo", "DemoSample", "simulate_demo", "write_demo"]
