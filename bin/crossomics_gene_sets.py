#!/usr/bin/env python3
"""Nextflow entry point for `crossomics gene-sets`."""
from crossomics.cli import run_step
run_step("gene-sets")
