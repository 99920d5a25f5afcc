#!/usr/bin/env python3
"""Nextflow step: same as `crossomics perturb-merge`."""
from crossomics.cli import run_step
run_step("perturb-merge")
