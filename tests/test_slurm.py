"""`snakemake --profile slurm` on a real SLURM, on the smallest DAG that has every kind of job: one
base model on one tiny target (CPU jobs, a GPU job, a GPU group job and a CPU group job), its
pretraining preempted once (scancel) so that SLURM-side failure, Snakemake's retry and the resume
from the last finished epoch all happen, and the results compared with a local run of the same DAG.

SLURM (slurmctld, slurmd, munge from Debian's packages) is installed if missing and started on
loopback by tests/slurm_cluster.py, with one node that offers pretend GPUs, and stopped by PID at
the end. Without root or apt the test is skipped, naming why (CI sets BASESEL_REQUIRE_SLURM).
"""
import json
import os
import re
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

import slurm_cluster
from helpers import ROOT, TINY, smk, with_changes, write_config

pytestmark = pytest.mark.slow

GPU_RULES = {"pretrain", "features", "featuremaps"}
# One base model, one target: its scores, baselines and fine-tuning. (Each job more costs ~10 s of
# SLURM start-up and polling, and a longer group job more: the plugin polls 10 s later each time.)
PAIR = ("resnet18", "cw8-0")
TARGET = TINY["targets"][0]["name"]
TARGETS = [f"results/{kind}/{PAIR[0]}/{PAIR[1]}/{TARGET}.json" for kind in ("scores", "baselines", "finetune")]
# Long enough a pretraining (tiny images) that it can be preempted after its first epoch.
# 20 epochs, and a resume file after every one of them, for the test to cancel the job after the first
CONFIG = with_changes(TINY, architectures=[
    {**a, "pretrain": {**a["pretrain"], "epochs": 20}} if a["name"] == PAIR[0] else a for a in TINY["architectures"]],
    compute__resume_every_s=0)
MODEL = f"results/pretrain/{PAIR[0]}/{PAIR[1]}/model.pt"
RESUME = f"results/pretrain/{PAIR[0]}/{PAIR[1]}/resume.pt"


@pytest.fixture(scope="module")
def cluster():
    try:
        slurm_cluster.start()
    except slurm_cluster.Unavailable as exc:
        if os.environ.get("BASESEL_REQUIRE_SLURM"):
            raise  # CI (.ci/run) must exercise the real cluster
        pytest.skip(f"no SLURM cluster: {exc}")
    yield
    slurm_cluster.stop()


def overlay_profile(path, **site):
    """A second profile that changes only what this test cluster needs: the site keys, squeue for
    job states (no accounting daemon), short polling, every job's log kept, and the two CPUs of this
    node for a group job."""
    base = yaml.safe_load((ROOT / "slurm" / "config.yaml").read_text())
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump({
        "default-resources": {**base["default-resources"], "mem_mb": 1000, **site},
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 1,
        "seconds-between-status-checks": 1,
        "slurm-keep-successful-logs": True,
        "latency-wait": 5,
        "jobs": 8,
        "cores": 2,  # a group job's CPUs: this node has two
        "set-threads": {rule: 2 for rule in base["set-threads"]},
    }))
    return path


def run_profile(workdir, profile, *targets, config=CONFIG, timeout=900, extra=()):
    # Verbatim `--profile slurm` from the repository root, plus the overlay; SIGINT (not SIGTERM)
    # stops a hung Snakemake and makes it cancel its SLURM jobs.
    cmd = [sys.executable, "-m", "snakemake", *targets, *extra, "--profile", "slurm", "--profile", str(profile),
           "--directory", str(workdir), "--configfile", str(ROOT / "config.yaml"), str(write_config(workdir, config))]
    return subprocess.Popen(["timeout", "-s", "INT", str(timeout), *cmd], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def submitted(text):
    return [int(j) for j in re.findall(r"submitted with SLURM jobid (\d+)", text)]


def job_info(jobid):
    """(rule name, asked for a GPU, state) of a SLURM job, from the comment the executor plugin
    sets: rule_<rule>_wildcards_<values> for a job, rule_<group id>_<...> for a group job."""
    out = subprocess.run(["scontrol", "show", "job", str(jobid)], capture_output=True, text=True).stdout
    comment = re.search(r"Comment=(\S+)", out)
    name = comment.group(1).removeprefix("rule_").split("_wildcards_")[0] if comment else ""
    state = re.search(r"JobState=(\w+)", out)
    return name, ("gres:gpu:1" in out or "gres/gpu=1" in out), state.group(1) if state else ""


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """The DAG through SLURM, its pretraining cancelled once it has saved an epoch; and a local run."""
    workdir = tmp_path_factory.mktemp("slurm")
    # slurm_partition left unset, as in the shipped profile: jobs go to the default partition.
    profile = overlay_profile(tmp_path_factory.mktemp("profile"))
    proc = run_profile(workdir, profile, *TARGETS)
    cancelled = None
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline and cancelled is None:
        if (workdir / RESUME).exists():  # the first epoch is saved: preempt the job
            for line in subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True).stdout.splitlines():
                jobid, comment = line.split(maxsplit=1)
                if comment.startswith("rule_pretrain_"):
                    subprocess.run(["scancel", jobid], check=True)
                    cancelled = int(jobid)
        time.sleep(0.05)
    text, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, text[-6000:] + "\n" + slurm_cluster.controller_log()[-3000:]
    local = tmp_path_factory.mktemp("local")
    smk(local, *TARGETS, config=CONFIG)
    return workdir, local, text, cancelled


def test_every_job_went_through_sbatch_and_gpu_rules_asked_for_one(slurm_run):
    workdir, _, text, _ = slurm_run
    jobs = submitted(text)
    assert re.findall(r"^localrule (\w+):", text, re.M) == []  # nothing ran on the submitting host
    seen = [job_info(j) for j in jobs]  # SLURM keeps finished jobs for MinJobAge
    names = [name for name, _, _ in seen]
    for rule in ("embedded_dataset", "index_dataset", "subset", "probe", "pretrain"):
        assert rule in names, names
    # a group job's name: its group id, then its rules
    groups = sorted(name for name in names if name.startswith(("gpu_", "cpu_")))
    assert groups == [f"cpu_{PAIR[0]}_{PAIR[1]}_baselines_finetune_head_scores",
                      f"gpu_{PAIR[0]}_{PAIR[1]}_featuremaps_features"], names
    for name, gpu, _ in seen:
        rule = name.split("_")[0] if name.startswith(("gpu_", "cpu_")) else name
        assert gpu == (rule in GPU_RULES or rule == "gpu"), (name, gpu)
    # the target's two passes went as one GPU job, its scores and fine-tuning as one CPU job
    assert [p.name for p in (workdir / "results/features").rglob("*.h5")] == [f"{TARGET}.h5"]
    assert [p.name for p in (workdir / "results/featuremaps").rglob("*.h5")] == [f"{TARGET}.h5"]
    assert [p.name for p in (workdir / "results/finetune").rglob("*.json")] == [f"{TARGET}.json"]


def test_a_preempted_job_is_retried_and_resumes(slurm_run):
    workdir, _, text, cancelled = slurm_run
    assert cancelled is not None, "the pretraining job finished before it could be preempted"
    assert job_info(cancelled)[2] == "CANCELLED"
    log = (workdir / f"logs/pretrain/{PAIR[0]}/{PAIR[1]}.log").read_text()
    assert re.search(r"resuming after epoch \d+ from", log), log[-2000:]  # the retry continued the first attempt
    epochs = pd.read_csv(workdir / f"results/pretrain/{PAIR[0]}/{PAIR[1]}/epochs.tsv", sep="\t")
    assert epochs.epoch.tolist() == list(range(1, 21))
    assert not (workdir / RESUME).exists()


def test_outputs_match_a_local_run(slurm_run):
    workdir, local, _, _ = slurm_run

    def files(root):
        return {str(p.relative_to(root)) for p in (root / "results").rglob("*")
                if p.is_file() and not str(p.relative_to(root)).startswith("results/benchmarks/")}

    assert files(workdir) == files(local)
    compared = set()
    for rel in sorted(files(workdir)):
        if not rel.endswith((".json", ".tsv")) or rel.startswith("results/data/"):
            continue
        got, want = workdir / rel, local / rel
        if rel.endswith(".json"):
            a, b = json.loads(got.read_text()), json.loads(want.read_text())
            assert a.keys() == b.keys(), rel
            a.pop("seconds", None), b.pop("seconds", None)  # measured times, not results
            for k in a:
                if isinstance(a[k], float):
                    assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9, nan_ok=True), (rel, k)
                else:
                    assert a[k] == b[k], (rel, k)
        else:
            a, b = pd.read_csv(got, sep="\t"), pd.read_csv(want, sep="\t")
            a, b = a.drop(columns=[c for c in a if c == "seconds"]), b.drop(columns=[c for c in b if c == "seconds"])
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6, atol=1e-9)
        compared.add(rel)
    # the requested results and the pretraining log among them
    assert set(TARGETS) | {f"results/pretrain/{PAIR[0]}/{PAIR[1]}/epochs.tsv"} <= compared, sorted(compared)


def test_unknown_partition_stops_before_any_submission(cluster, tmp_path):
    profile = overlay_profile(tmp_path / "profile", slurm_partition="no_such_partition")
    (tmp_path / "work").mkdir()
    proc = run_profile(tmp_path / "work", profile, *TARGETS, timeout=300)
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert "slurm_partition 'no_such_partition' is not a partition of this cluster" in text
    assert "Partitions (sinfo): basesel*" in text
    assert submitted(text) == []
