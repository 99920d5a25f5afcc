#!/usr/bin/env python3
"""Nextflow entry point for `crossomics report`."""
from crossomics.cli import run_step
run_step("report")
