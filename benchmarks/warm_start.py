"""Job start-up three ways: the tiny config's whole DAG run from scratch in temporary folders, with
`compute.warm_start: true` (the default: Snakemake's threads hand each job to the warm server,
machinery/launch.py), with the warm server but a process per job that hands itself over (the
launch switched off, as before launch.py), and with `compute.warm_start: false` (every job imports
torch in its own process); prints the wall time of each, the number of jobs and the ratios
measured in this one run.

    python benchmarks/warm_start.py              # about 9 minutes on 2 cores
    python benchmarks/warm_start.py --no-cold    # the two warm ways only, about 3 minutes
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Snakemake with launch.install made a no-op: each job's own process hands it to the server.
WITHOUT_LAUNCH = ("import sys; import basesel.machinery.launch as launch; launch.install = lambda workflow: False; "
                  "from snakemake.cli import main; sys.argv[0] = 'snakemake'; main()")


def run(warm: bool, launch: bool = True) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="basesel-warm-bench-") as tmp:
        overlay = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
        overlay["compute"] = {"warm_start": warm}
        (Path(tmp) / "overlay.yaml").write_text(yaml.safe_dump(overlay))
        snakemake = [sys.executable, "-m", "snakemake"] if launch else [sys.executable, "-c", WITHOUT_LAUNCH]
        cmd = [*snakemake, "--cores", "2", "--snakefile", str(ROOT / "Snakefile"), "--directory", tmp,
               "--configfile", str(ROOT / "config.yaml"), str(Path(tmp) / "overlay.yaml")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "workflow"), os.environ.get("PYTHONPATH", "")])}
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            sys.exit(out.stderr[-3000:])
        jobs = out.stderr.count("Finished jobid")
        return seconds, jobs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cold", action="store_true", help="skip the run without warm start (6 of the 9 minutes)")
    args = parser.parse_args()
    per_process, jobs = run(True, launch=False)
    launched, _ = run(True)
    line = (f"tiny config, {jobs} jobs on 2 cores: warm start with a process per job {per_process:.1f} s, "
            f"handed over by Snakemake's threads {launched:.1f} s ({launched / per_process:.2f}x)")
    if not args.no_cold:
        cold, _ = run(False)
        line += f"; every job in its own process {cold:.0f} s, cold / warm = {cold / launched:.2f}x"
    print(line)


if __name__ == "__main__":
    main()
