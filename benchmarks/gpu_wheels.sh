#!/usr/bin/env bash
# Wheels for the GPU machine (Python 3.12, no network, no Snakemake): Snakemake and each of its
# dependencies that the machine's image lacks, pinned to this project's .venv versions, into .whl/
# (ignored by git; the device tool carries it). Pure-Python packages that publish no wheel are built
# here. Run from the repository root, where pip reaches the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.whl
mkdir -p "$dest"
platform=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64)
# compiled: wheels for CPython 3.12 on x86-64 Linux
binary=(greenlet immutables pydantic_core rpds-py SQLAlchemy)
# pure Python (the machine already has numpy, pandas, pyyaml, psutil, wrapt, jinja2, requests, ...;
# not PuLP, 16 MB: gpu_check.py runs Snakemake with its greedy scheduler)
pure=(snakemake snakemake-executor-plugin-slurm snakemake-executor-plugin-slurm-jobstep snakemake-interface-common
      snakemake-interface-executor-plugins snakemake-interface-logger-plugins snakemake-interface-report-plugins
      snakemake-interface-scheduler-plugins snakemake-interface-storage-plugins annotated-types argparse-dataclass
      conda-inject ConfigArgParse connection_pool docutils dpath fastjsonschema gitdb GitPython humanfriendly jsonschema
      jsonschema-specifications jupyter_core nbformat platformdirs pydantic referencing smart_open smmap
      sqlmodel tenacity throttler traitlets typing-inspection yte)
version() { .venv/bin/python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
for name in "${binary[@]}"; do
  python3 -m pip download -q --no-deps --only-binary=:all: "${platform[@]}" -d "$dest" "$name==$(version "$name")"
done
for name in "${pure[@]}"; do
  spec="$name==$(version "$name")"
  python3 -m pip download -q --no-deps --only-binary=:all: "${platform[@]}" --platform any -d "$dest" "$spec" 2>/dev/null \
    || python3 -m pip wheel -q --no-deps -w "$dest" "$spec"
done
du -sh "$dest"
