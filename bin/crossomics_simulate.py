#!/usr/bin/env python3
"""Nextflow step: same as `crossomics simulate`."""

from crossomics.cli import run_step

run_step("simulate")
