#!/usr/bin/env python3
"""Nextflow step: same as `crossomics embed`."""
from crossomics.cli import run_step
run_step("embed")
