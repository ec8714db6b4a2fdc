"""What several test modules share: running the workflow, the jobs a run would do (read from
Snakemake's DAG, not from its printed text), a run marked complete without computing it, small data.

Run as a script, it prints the planned jobs of a workflow as JSON (see `planned_jobs`).
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def write_config(workdir, config) -> Path:
    """The overlay `config` as a file in `workdir`, named by its content (plans may run side by side)."""
    import hashlib

    text = yaml.safe_dump(config, sort_keys=False)  # keys in the order given, as a user's file has them
    path = Path(workdir) / f"test-config-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    path.write_text(text)
    return path


def smk(workdir, *args, config=None, check=True, timeout=1800, snakefile=None, env=None):
    """Run Snakemake on `workdir` as from the repository root: config.yaml, then the overlay `config`
    (lists replace, mappings merge); `env` replaces the environment (default: this process's)."""
    # Targets and flags first: --configfile takes every word after it.
    cmd = [*SNAKEMAKE, *args, "--snakefile", str(snakefile or ROOT / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", "--configfile", str(ROOT / "config.yaml")]
    if config is not None:
        cmd.append(str(write_config(workdir, config)))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"})
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")
    return out


class Plan:
    """The jobs a Snakemake run would do: `counts` {rule: jobs}, `jobs` {(rule, wildcards), ...},
    `outputs` {path: is a directory()}."""

    def __init__(self, jobs):
        self.jobs = {(rule, tuple(map(tuple, wildcards))) for rule, wildcards, *_ in jobs}
        self.counts = dict(Counter(rule for rule, _ in self.jobs))
        self.outputs = {path: is_dir for _, _, outputs, _, _ in jobs for path, is_dir, _ in outputs}
        # outputs marked for the report: path -> (caption file name, category)
        self.reports = {path: tuple(flag) for _, _, outputs, _, _ in jobs for path, _, flag in outputs if flag}
        # (rule, its script's path or None, its `code` parameter) of one job per rule
        self.code = sorted({rule: (rule, script, code) for rule, _, _, script, code in jobs}.values(), key=lambda t: t[0])
        self.groups: dict = {}

    def slurm_jobs(self, grouped_rules) -> int:
        """SLURM jobs of this plan: one per group, one per other job (rule `all` runs locally)."""
        return len(self.groups) + sum(n for rule, n in self.counts.items() if rule not in grouped_rules and rule != "all")

    def wildcards(self, rule: str) -> list[dict]:
        return sorted((dict(wc) for r, wc in self.jobs if r == rule), key=lambda d: sorted(d.items()))


def slurm_profile() -> dict:
    """The grouping settings of `snakemake --profile slurm`, as Snakemake combines its two profiles:
    groups and group-components from the workflow profile (profiles/default), cores and set-threads
    from slurm/config.yaml."""
    workflow = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    site = yaml.safe_load((ROOT / "slurm" / "config.yaml").read_text())
    combined = {**site, **workflow}  # a workflow profile's key wins over the user profile's
    return {k: combined[k] for k in ("groups", "group-components", "cores", "set-threads")}


def planned_jobs(workdir, config=None, *targets, snakefile=None, base=None, profile=None, complete=False,
                 sized=()) -> Plan:
    """The jobs a run of `targets` (default: rule all) would do, from Snakemake's DAG (its API, in a
    subprocess: a workflow is parsed once per process). With `profile` (slurm_profile()), jobs are
    grouped as the SLURM profile groups them: Plan.groups {group id: (rules, GPUs asked for)}, the
    GPUs for the group ids in `sized` only (evaluating a group's resources takes ~30 ms)."""
    configs = [str(base or ROOT / "config.yaml")] + ([str(write_config(workdir, config))] if config is not None else [])
    cmd = [sys.executable, str(Path(__file__).resolve()), "plan", str(snakefile or ROOT / "Snakefile"), str(workdir),
           json.dumps(configs), json.dumps(list(targets)), json.dumps(profile), "complete" if complete else "",
           json.dumps(list(sized))]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise AssertionError(f"planning failed:\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    plan = Plan(doc["jobs"])
    plan.groups = {gid: (tuple(rules), gpu) for gid, rules, gpu in doc["groups"]}
    return plan


def _plan_main(snakefile, workdir, configs, targets, profile, complete="", sized="[]") -> None:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        GroupSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    profile = json.loads(profile)
    resources = ResourceSettings(cores=2)
    groups = GroupSettings()
    if profile:
        resources = ResourceSettings(cores=profile["cores"], overwrite_threads=profile["set-threads"])
        groups = GroupSettings(overwrite_groups=profile["groups"], group_components=profile["group-components"])
    # A dry run quiet about rules and progress stops once the DAG is built and its needrun decided
    # (snakemake.workflow.Workflow.execute), before it schedules (and logs) every job: 13.0 -> 11.6 s
    # a plan at the paper's scale.
    with SnakemakeApi(OutputSettings(dryrun=True, quiet={Quietness.RULES, Quietness.PROGRESS})) as api:
        wf = api.workflow(snakefile=Path(snakefile), workdir=Path(workdir), resource_settings=resources,
                          config_settings=ConfigSettings(configfiles=[Path(c) for c in json.loads(configs)]))
        dag_api = wf.dag(DAGSettings(targets=set(json.loads(targets))))
        dag_api.execute_workflow(executor="local", pseudo_executor="dryrun", group_settings=groups)
        dag = wf._workflow.dag
        rows, found = [], {}
        for job in dag.needrun_jobs(exclude_finished=False):
            script = job.rule.script and str((Path(job.rule.snakefile).parent / job.rule.script).resolve())
            outputs = [[str(f), f.is_directory, _report_flag(f)] for f in job.output]
            rows.append([job.rule.name, sorted(job.wildcards_dict.items()), outputs, script, job.params.get("code")])
            group = dag.get_job_group(job)
            if group is not None:
                found.setdefault(group.groupid, group)
        sized = set(json.loads(sized))
        summary = [[gid, sorted({j.rule.name for j in g.jobs}),
                    int(g.resources.get("gpu", 0) or 0) if gid in sized else None] for gid, g in found.items()]
        if complete:
            _record_done(wf._workflow, dag)
        print(json.dumps({"jobs": sorted(rows, key=lambda r: (r[0], r[1])), "groups": summary}))


def _report_flag(f):
    """[caption file name, category] of an output the rule marks for the report; None otherwise."""
    flag = getattr(f, "flags", {}).get("report")
    if not flag:
        return None
    return [Path(str(flag.caption)).name if flag.caption else None, flag.category]


def _record_done(workflow, dag) -> None:
    """Make every planned job's outputs (empty files, in dependency order, so that each is newer
    than its inputs) and record the job as finished in Snakemake's metadata, as a run would: what
    `snakemake --touch` does, without scheduling every job (minutes at the paper's scale)."""
    import asyncio

    async def finish():
        for level in dag.toposorted(set(dag.needrun_jobs(exclude_finished=False))):
            for job in sorted(level, key=str):
                for f in job.output:
                    path = Path(str(f))  # relative to the workdir, Snakemake's working directory
                    if f.is_directory:
                        path.mkdir(parents=True, exist_ok=True)
                    else:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.touch()
                await workflow.persistence.finished(job)

    asyncio.run(finish())



def with_changes(config, **changes):
    """A copy of `config` with keys set by path: with_changes(c, finetune__schedule__epochs=3)."""
    new = copy.deepcopy(config)
    for path, value in changes.items():
        node = new
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        node[keys[-1]] = value
    return new


def touch_complete(workdir, config=None, *, base=None, copy_workflow=False) -> Path:
    """A workdir in which the whole DAG is marked done without computing it (empty outputs, and
    Snakemake's metadata of a finished run: _record_done), so that planned_jobs shows what an edit
    would rerun after a complete run. With `copy_workflow`, the Snakefile and workflow/ are copied
    (and data/, which the workflow ships) into the workdir first, so that a test may edit the library;
    returns the Snakefile to run."""
    workdir = Path(workdir)
    snakefile = ROOT / "Snakefile"
    if copy_workflow:
        for name in ("Snakefile", "config.yaml"):
            shutil.copy(ROOT / name, workdir / name)
        shutil.copytree(ROOT / "workflow", workdir / "workflow", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        shutil.copytree(ROOT / "envs", workdir / "envs")
        shutil.copytree(ROOT / "data", workdir / "data")  # the published tables the report analyses
        snakefile, base = workdir / "Snakefile", base or workdir / "config.yaml"
    plan = planned_jobs(workdir, config, snakefile=snakefile, base=base, complete=True)
    assert plan.counts, "nothing was planned"
    return snakefile


def toy_data(n=64, d=5, k=3, seed=0):
    """A small classification problem as a TensorDataset (features (n, d), labels (n,))."""
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return torch.utils.data.TensorDataset(x, y % k)


def trained_bn(model, size, seed=0):
    """Give batch-norm layers non-trivial running statistics, then switch to eval mode."""
    import torch

    g = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, size, size, generator=g) * 2 + 0.5)
    return model.eval()


def direct_logme(f, y):
    """LogME's published fixed point written with explicit d x d matrices (a second implementation)."""
    import numpy as np

    n, d = f.shape
    out = []
    for k in np.unique(y):
        t = (y == k).astype(float)
        alpha, beta = 1.0, 1.0
        ftf, lam = f.T @ f, np.linalg.eigvalsh(f.T @ f)
        for _ in range(100):
            a = alpha * np.eye(d) + beta * ftf
            m = beta * np.linalg.solve(a, f.T @ t)
            gamma = (beta * lam / (alpha + beta * lam)).sum()
            na, nb = gamma / (m @ m), (n - gamma) / ((t - f @ m) @ (t - f @ m))
            done = abs(na / nb - alpha / beta) / (alpha / beta) < 1e-3
            alpha, beta = na, nb
            if done:
                break
        a = alpha * np.eye(d) + beta * ftf
        m = beta * np.linalg.solve(a, f.T @ t)
        ev = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.linalg.slogdet(a)[1]
              - beta / 2 * ((t - f @ m) @ (t - f @ m)) - alpha / 2 * (m @ m) - n / 2 * np.log(2 * np.pi))
        out.append(ev / n)
    return np.mean(out)


def leftovers(results: Path) -> list:
    """Temporary, resume and staging files left under results/ (none after a clean run)."""
    return [p for p in results.rglob("*") if (p.name.startswith(".") and p.name != ".snakemake_timestamp")
            or "resume" in p.name or p.name.endswith(".partial") or re.search(r"\.tmp$", p.name)]


if __name__ == "__main__":
    if sys.argv[1] == "plan":
        _plan_main(*sys.argv[2:])


def direct_forward(model, arch: str, x):
    """The paper's probed layer and the penultimate features of a model of the registry, computed
    by running its modules by hand (no hooks): an independent way to the values the tap reads."""
    import torch

    with torch.no_grad():
        if arch == "resnet18":
            h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
            fm = model.layer4(model.layer3(model.layer2(model.layer1(h))))
            return fm, torch.flatten(model.avgpool(fm), 1)
        cut = {"alexnet": 12, "vgg16": 30}[arch]  # features.11 / features.29, the last conv's ReLU
        fm = model.features[:cut](x)
        rest = model.features[cut:](fm)
        return fm, model.classifier[:-1](torch.flatten(model.avgpool(rest), 1))


def random_table(seed=0, archs=("a", "b"), targets=("t1", "t2"), n=6):
    """A workflow score table (arch, source, target, S1..S6, accuracy) of random numbers."""
    import itertools

    import numpy as np
    import pandas as pd

    from basesel.science.featuremap_scores import METRICS

    rng = np.random.default_rng(seed)
    rows = []
    for arch, target in itertools.product(archs, targets):
        for k in range(n):
            rows.append({"arch": arch, "source": f"s{k}", "target": target,
                         **{m: float(rng.normal()) for m in METRICS}, "accuracy": float(rng.uniform())})
    return pd.DataFrame(rows)


def job_counts(output: str) -> dict:
    """{rule: jobs, "total": jobs} from the job-stats table that `snakemake -n --quiet rules` prints."""
    return dict(re.findall(r"^(\w+)\s+(\d+)$", output, re.M))
