# The two commands of README.md. Both create the environment (.venv, from pyproject.toml) if missing.
#   make run                        the workflow on the embedded default, then results/report.html
#   make run CONFIG=configs/X.yaml  the same with a ready overlay (tiny, zoo, replicates, ...)
#   make test                       the test suite (what .ci/run calls), its files spread over CORES
#                                   processes, the long files first (tests/conftest.py)
# After a run that died (kill -9, out of memory, a lost session) `make run` carries on: a stale lock is
# removed when no Snakemake process is alive for this folder (basesel/machinery/runlock.py), and jobs that were
# cut short run again (rerun-incomplete). Every other setting of the run is the workflow profile's
# (profiles/default), which bare `snakemake` reads as well: `snakemake --cores 2` runs as `make run` does.
# `--logger basesel` only changes what the terminal shows (done / total jobs, elapsed, the rules
# running: workflow/snakemake_logger_plugin_basesel); every job's record stays in .snakemake/log/.
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
CONFIG ?=
BIN := $(VENV)/bin
CONFIG_ARGS := $(if $(CONFIG),--configfile $(CONFIG))

.PHONY: run test env bench clean

env: $(VENV)/.installed

# A new environment takes about 6 GB (torch 2.14.1's x86_64 wheels bring CUDA's libraries): say so
# before pip fills the disk halfway through.
ENV_FREE_GB ?= 7
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || { free=$$(df -Pk $(dir $(abspath $(VENV))) | awk 'NR==2 {print int($$4 / 1048576)}'); \
	  if [ "$$free" -lt $(ENV_FREE_GB) ]; then \
	    echo "make env: a new $(VENV) needs about 6 GB (torch's wheels) and $$free GB are free on $(dir $(abspath $(VENV))):" \
	         "free some space, or put the environment on a disk with room (make VENV=/path/to/venv ...)" >&2; exit 1; fi; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: env
	$(BIN)/python -m basesel.machinery.runlock $(CONFIG_ARGS)
	$(BIN)/snakemake --cores $(CORES) --logger basesel $(CONFIG_ARGS)
	$(BIN)/snakemake --report results/report.html $(CONFIG_ARGS)
	@echo "report: results/report.html"

test: env
	$(BIN)/python -m pytest -n $(CORES) --dist loadfile --no-loadscope-reorder

bench: env
	$(BIN)/python benchmarks/featuremaps_throughput.py

clean:
	rm -rf results logs .snakemake
