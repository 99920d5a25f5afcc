# crossomics developer entry points. `make demo` and `make test` are the two commands the README opens with.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# CPU build of torch, pinned so that a plain install never pulls the multi-GB CUDA build.
TORCH_CPU := torch==2.13.0
DEMO_DIR ?= demo
PYTEST_ARGS ?=

.PHONY: install install-test demo test clean browser

include mk/nextflow-checks.mk

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_CPU)
	$(PIP) install -q -e .
	touch $@

install: $(VENV)/.installed

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e '.[test]'
	touch $@

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/crossomics simulate-demo --outdir $(DEMO_DIR)/data --seed 0
	$(VENV)/bin/crossomics run --input $(DEMO_DIR)/data/samplesheet.csv --outdir $(DEMO_DIR)/results --seed 0 \
		--annotation $(DEMO_DIR)/data/genes.gtf --gene-sets $(DEMO_DIR)/data/genesets.gmt
	@echo "Demo outputs: $(DEMO_DIR)/results (report: $(DEMO_DIR)/results/multiqc/multiqc_report.html)"

# Headless Chromium for the report's browser test (Debian package; installed once when missing).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install-test nextflow-tools browser
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
