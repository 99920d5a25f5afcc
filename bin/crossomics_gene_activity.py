#!/usr/bin/env python3
"""Nextflow entry point for `crossomics gene-activity`."""
from crossomics.cli import run_step
run_step("gene-activity")
