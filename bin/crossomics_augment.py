#!/usr/bin/env python3
"""Nextflow step: same as `crossomics augment`."""

from crossomics.cli import run_step

run_step("augment")
