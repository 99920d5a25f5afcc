#!/usr/bin/env python3
"""Nextflow step: same as `crossomics generate`."""

from crossomics.cli import run_step

run_step("generate")
