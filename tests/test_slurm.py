"""`snakemake --profile slurm` on a real SLURM: the tiny config through sbatch, compared with a
local run of the same config (the `tiny_run` fixture of conftest.py).

SLURM (slurmctld, slurmd, munge from Debian's packages) is installed if missing and started on
loopback by tests/slurm_cluster.py, with one node that offers a pretend GPU, and stopped by PID at
the end. Without root or apt the test is skipped, naming why.
"""
import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

import slurm_cluster
from test_workflow import ROOT, TINY

pytestmark = pytest.mark.slow

GPU_RULES = {"pretrain", "featuremaps", "pretrain_whole", "layer_features"}


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
    job states (no accounting daemon), short polling, and every job's log kept for inspection."""
    base = yaml.safe_load((ROOT / "slurm" / "config.yaml").read_text())
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump({
        "default-resources": {**base["default-resources"], "mem_mb": 1000, **site},
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2,
        "seconds-between-status-checks": 2,
        "slurm-keep-successful-logs": True,
        "latency-wait": 5,
        "jobs": 8,
        "cores": 2,  # a group job's CPUs: this node has two
    }))
    return path


def run_profile(workdir, profile, *extra, config=TINY, timeout=1500):
    cfg = workdir / "test-config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    # Verbatim `--profile slurm` from the repository root, plus the overlay; SIGINT (not SIGTERM)
    # stops a hung Snakemake and makes it cancel its SLURM jobs.
    cmd = [sys.executable, "-m", "snakemake", *extra, "--profile", "slurm", "--profile", str(profile),
           "--directory", str(workdir), "--configfile", str(ROOT / "config.yaml"), str(cfg)]
    return subprocess.run(["timeout", "-s", "INT", str(timeout), *cmd], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def submitted(text):
    return [int(j) for j in re.findall(r"submitted with SLURM jobid (\d+)", text)]


def job_info(jobid):
    """(rule name, asked for a GPU) of a SLURM job, from the comment the executor plugin sets:
    rule_<rule>_wildcards_<values> for a job, rule_<group>_<rules> for a group job."""
    out = subprocess.run(["scontrol", "show", "job", str(jobid)], capture_output=True, text=True).stdout
    comment = re.search(r"Comment=(\S+)", out)
    name = comment.group(1).removeprefix("rule_").split("_wildcards_")[0] if comment else ""
    group = re.fullmatch(r"(\w+)_\1", name)  # our groups are named after their one rule
    return (group.group(1) if group else name), ("gres:gpu:1" in out or "gres/gpu=1" in out)


def numbers(path):
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return pd.read_csv(path, sep="\t")


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm")
    # slurm_partition left unset, as in the shipped profile: jobs go to the default partition.
    profile = overlay_profile(tmp_path_factory.mktemp("profile"))
    out = run_profile(workdir, profile)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-6000:] + "\n" + slurm_cluster.controller_log()[-3000:]
    return workdir, text


def test_every_job_went_through_sbatch(slurm_run):
    workdir, text = slurm_run
    jobs = submitted(text)
    assert jobs, text[-3000:]
    # Nothing ran on the submitting host but the `all` target.
    assert set(re.findall(r"^localrule (\w+):", text, re.M)) <= {"all"}
    rules, gpu_seen, per_rule = set(), {}, {}
    for jobid in jobs:
        rule, gpu = job_info(jobid)  # kept by SLURM for MinJobAge after the job ends
        assert rule, f"job {jobid} has no rule comment"
        rules.add(rule)
        gpu_seen.setdefault(rule, set()).add(gpu)
        per_rule[rule] = per_rule.get(rule, 0) + 1
    for rule in ("embedded_dataset", "index_dataset", "subsets", "pretrain", "featuremaps", "finetune_head",
                 "scores", "analysis", "table"):
        assert rule in rules, rules
    # GPU rules asked SLURM for the (pretend) GPU; CPU rules did not.
    for rule, seen in gpu_seen.items():
        assert seen == ({True} if rule in GPU_RULES else {False}), (rule, seen)
    # The 24 scores jobs went as one group job (the profile groups up to 48).
    assert len(list((workdir / "results" / "scores").rglob("*.json"))) == 24
    assert per_rule["scores"] == 1
    assert per_rule["pretrain"] == 12


def test_outputs_match_a_local_run(slurm_run, tiny_run):
    workdir, _ = slurm_run
    skip = ("results/benchmarks/", "results/report.html")

    def files(root):
        return {str(p.relative_to(root)) for p in (root / "results").rglob("*")
                if p.is_file() and not str(p.relative_to(root)).startswith(skip)}

    assert files(workdir) == files(tiny_run)
    compared = 0
    for rel in sorted(files(workdir)):
        path = workdir / rel
        if not (rel.startswith(("results/scores/", "results/finetune/", "results/analysis/")) and path.suffix in (".json", ".tsv")):
            continue
        got, want = numbers(path), numbers(tiny_run / rel)
        if isinstance(got, dict):
            assert got.keys() == want.keys(), rel
            for k in got:
                if isinstance(got[k], float):
                    assert got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-9, nan_ok=True), (rel, k)
                else:
                    assert got[k] == want[k], (rel, k)
        else:
            got = got.drop(columns=[c for c in got.columns if c == "seconds"])
            want = want.drop(columns=[c for c in want.columns if c == "seconds"])
            pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-6, atol=1e-9)
        compared += 1
    assert compared > 50


def test_unknown_partition_stops_before_any_submission(cluster, tmp_path):
    profile = overlay_profile(tmp_path / "profile", slurm_partition="no_such_partition")
    (tmp_path / "work").mkdir()
    out = run_profile(tmp_path / "work", profile, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "slurm_partition 'no_such_partition' is not a partition of this cluster" in text
    assert "Partitions (sinfo): basesel*" in text
    assert submitted(text) == []


def test_cuda_asked_on_a_node_without_one_is_named_and_rerun_continues(slurm_run, tmp_path):
    """compute.device: cuda on the pretend GPU (no CUDA device behind it): the job ends with the
    reason; nothing half-written stays; with the device fixed, a rerun does only what is left."""
    workdir, _ = slurm_run
    profile = overlay_profile(tmp_path / "profile", slurm_partition=slurm_cluster.PARTITION)
    target = "results/pretrain/resnet18/cw8-0/model.pt"
    model = workdir / target
    model.unlink()  # one GPU job to redo (asked for by name: later outputs are up to date)
    bad = {**TINY, "compute": {"device": "cuda"}}
    out = run_profile(workdir, profile, target, "--restart-times", "0", config=bad, timeout=600)
    assert out.returncode != 0
    log = (workdir / "logs/pretrain/resnet18/cw8-0.log").read_text()
    assert "no CUDA device is visible on this node" in log
    assert "Traceback" not in log  # a clear message, not a stack trace
    assert not model.exists()
    out = run_profile(workdir, profile, target, config=TINY, timeout=900)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    assert model.exists()
    assert [job_info(j)[0] for j in submitted(text)] == ["pretrain"]
