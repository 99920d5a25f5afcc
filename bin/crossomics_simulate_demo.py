#!/usr/bin/env python3
"""Nextflow entry point for `crossomics simulate-demo`."""
from crossomics.cli import run_step
run_step("simulate-demo")
