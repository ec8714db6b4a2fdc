"""Job start-up with and without warm start: the tiny config's whole DAG run twice from scratch in
temporary folders, once with `compute.warm_start: true` (the default) and once with false; prints the
wall time of each, the number of jobs and the ratio measured in this one run.

    python benchmarks/warm_start.py            # about 3 minutes on 2 cores
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(warm: bool) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="basesel-warm-bench-") as tmp:
        overlay = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
        overlay["compute"] = {"warm_start": warm}
        (Path(tmp) / "overlay.yaml").write_text(yaml.safe_dump(overlay))
        cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--snakefile", str(ROOT / "Snakefile"),
               "--directory", tmp, "--configfile", str(ROOT / "config.yaml"), str(Path(tmp) / "overlay.yaml")]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            sys.exit(out.stderr[-3000:])
        jobs = out.stderr.count("Finished jobid")
        return seconds, jobs


def main():
    cold, jobs = run(False)
    warm, _ = run(True)
    print(f"tiny config, {jobs} jobs on 2 cores: every job in its own process {cold:.0f} s, "
          f"warm start {warm:.0f} s; cold / warm = {cold / warm:.2f}x")


if __name__ == "__main__":
    main()
