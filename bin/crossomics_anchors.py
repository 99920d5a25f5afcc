#!/usr/bin/env python3
"""Nextflow entry point for `crossomics anchors`."""
from crossomics.cli import run_step
run_step("anchors")
