"""basesel as a Snakemake module of another workflow (`module` + `use rule *`): the host plans the
same jobs as basesel run on its own, from the host's folder, and basesel's start checks run when the
host calls its hooks, as README "As a module of your workflow" shows."""
import os
import shutil
import subprocess

from helpers import ROOT, SNAKEMAKE, job_counts

HOST = """configfile: "{root}/config.yaml"


module basesel:
    snakefile:
        "{root}/Snakefile"
    config:
        config


use rule * from basesel


onstart:
    basesel.onstart()


onsuccess:
    basesel.onsuccess()


onerror:
    basesel.onerror()
"""


def host(tmp_path):
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "Snakefile").write_text(HOST.format(root=ROOT))
    return folder


def test_a_host_workflow_plans_basesels_jobs(tmp_path):
    folder = host(tmp_path)
    hosted = subprocess.run([*SNAKEMAKE, "-n", "--cores", "2", "--quiet", "rules"], cwd=folder, capture_output=True,
                            text=True)
    assert hosted.returncode == 0, hosted.stdout[-3000:] + hosted.stderr[-3000:]
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(ROOT / "config.yaml", alone)
    own = subprocess.run([*SNAKEMAKE, "-n", "--cores", "2", "--quiet", "rules", "--snakefile", str(ROOT / "Snakefile")],
                         cwd=alone, capture_output=True, text=True)
    assert own.returncode == 0, own.stderr[-3000:]
    counts = job_counts(hosted.stdout + hosted.stderr)
    assert int(counts["total"]) > 500 and counts == job_counts(own.stdout + own.stderr)
    # basesel's code and data are found in its checkout, not in the host's folder
    assert not (folder / "workflow").exists()


def test_the_hosts_hooks_run_basesels_start_checks(tmp_path):
    """The SLURM check that basesel's onstart runs stops the host's run before any submission, on a
    cluster (fake SLURM commands) whose only partition has no GPU."""
    folder = host(tmp_path)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    calls = tmp_path / "calls"
    for name, body in {"sinfo": 'echo "cpu* up (null)"', "squeue": "true", "sacct": "true", "scontrol": "true",
                       "sbatch": "exit 1"}.items():
        (bin_ / name).write_text(f"#!/bin/sh\necho {name} >> {calls}\n{body}\n")
        (bin_ / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([*SNAKEMAKE, "--executor", "slurm", "--jobs", "2", "--default-resources", "slurm_account=x"],
                         cwd=folder, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode != 0
    assert "SLURM settings do not fit this cluster" in out.stderr
    assert "rule pretrain asks for a GPU but partition 'cpu' has none" in out.stderr
    assert "sbatch" not in calls.read_text().split()
    assert "sinfo" in calls.read_text().split()
