# The two commands of README.md. Both create the environment (.venv, from pyproject.toml) if missing.
#   make run    the workflow on the embedded default, then results/report.html
#   make test   the test suite (what .ci/run calls)
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin

.PHONY: run test env bench clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: env
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html
	@echo "report: results/report.html"

test: env
	$(BIN)/python -m pytest

bench: env
	$(BIN)/python benchmarks/featuremaps_throughput.py

clean:
	rm -rf results logs .snakemake
