#!/usr/bin/env bash
# The GPU check in one command, on a machine with a GPU and its own torch but no Snakemake and no
# network: installs the wheels of .whl/ (benchmarks/gpu_wheels.sh fetched them here), then runs
# benchmarks/gpu_check.py on CUDA. Needs .gpu_reference/ (gpu_check.py --prepare, made here).
#   bash benchmarks/gpu_check.sh OUT.tsv [gpu_check.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bash benchmarks/gpu_check.sh OUT.tsv [options]}
shift
site=${BASESEL_GPU_SITE:-/tmp/basesel-site}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
export PYTHONPATH="$site:$PWD/workflow${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c 'import snakemake, torch, torchvision; print("snakemake", snakemake.__version__, "torch", torch.__version__, "torchvision", torchvision.__version__)'
exec python3 benchmarks/gpu_check.py "$out" --device cuda "$@"
