#!/usr/bin/env python3
"""Nextflow entry point for `crossomics qc`."""
from crossomics.cli import run_step
run_step("qc")
