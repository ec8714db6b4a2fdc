"""The workflow profile (profiles/default): bare `snakemake` runs with the settings `make run` runs
with, and `--profile slurm` combines the site's keys with the workflow's as Snakemake combines them."""
import json
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from helpers import ROOT, SNAKEMAKE, job_counts

PROFILE = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
SITE = yaml.safe_load((ROOT / "slurm" / "config.yaml").read_text())

# Snakemake's own argument parser on the command line it is given, in the repository root (where
# it looks for profiles), in a process of its own: the settings in force, by name.
PARSE = """
import json, sys
from snakemake.cli import parse_args
parser, args = parse_args(sys.argv[1:])
import re
# object addresses (dataclasses' MISSING) differ between processes and say nothing
def show(v):
    return repr(sorted(map(show, v))) if isinstance(v, (set, frozenset)) else re.sub(" at 0x[0-9a-f]+", "", repr(v))
print(json.dumps({k: show(v) for k, v in sorted(vars(args).items())}))
"""


def settings(argv) -> dict:
    out = subprocess.run([sys.executable, "-c", PARSE, *argv], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.splitlines()[-1])


def make_run_snakemake(*make_args) -> list[str]:
    """The arguments of the Snakemake run that `make run` starts (its recipe, as `make -n` prints it)."""
    printed = subprocess.run(["make", "-n", "run", *make_args], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    runs = [shlex.split(line) for line in printed.splitlines() if "bin/snakemake" in line and "--report" not in line]
    assert len(runs) == 1, printed
    return runs[0][1:]


def test_bare_snakemake_has_make_runs_settings():
    made = make_run_snakemake()
    # every other setting comes from the workflow profile; the logger only changes what is shown
    assert made == ["--cores", "2", "--logger", "basesel"]
    bare = settings(["--cores", "2"])
    shown = settings(made)
    assert shown.pop("logger") == "['basesel']" and bare.pop("logger") == "[]"
    assert shown == bare
    # the profile's settings are in force: not Snakemake's defaults (ilp, no rerun of incomplete jobs)
    assert bare["scheduler"] == "'greedy'" and bare["rerun_incomplete"] == "True"
    assert settings(["--cores", "2", "--workflow-profile", "none"])["scheduler"] != "'greedy'"
    with_config = make_run_snakemake("CONFIG=configs/tiny.yaml")
    assert settings(with_config) == settings(["--cores", "2", "--logger", "basesel", "--configfile", "configs/tiny.yaml"])


def test_slurm_profile_and_the_workflow_profile_combine():
    combined = settings(["--profile", "slurm"])
    assert combined["executor"] == "'slurm'"
    # the site's keys from slurm/config.yaml
    assert combined["cores"] == repr(SITE["cores"]) and combined["jobs"] == repr(SITE["jobs"])
    assert all(f"'{rule}': Resource(\"_cores\", {n})" in combined["set_threads"]
               for rule, n in SITE["set-threads"].items())
    # the workflow's from profiles/default, which slurm/config.yaml no longer repeats
    assert not set(PROFILE) & set(SITE)
    assert combined["scheduler"] == "'greedy'" and combined["rerun_incomplete"] == "True"
    assert combined["groups"] == repr(PROFILE["groups"])
    assert combined["group_components"] == repr(PROFILE["group-components"])
    # every grouped rule is a rule of the workflow, and every GPU rule of a group takes a site's threads
    rules = subprocess.run([*SNAKEMAKE, "--list-rules"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert set(PROFILE["groups"]) <= set(rules.split())
    assert set(SITE["set-threads"]) <= set(PROFILE["groups"])


@pytest.mark.parametrize("config", [None, "configs/tiny.yaml"])
def test_bare_snakemake_plans_what_make_run_plans(config, tmp_path):
    """Dry runs of both commands count the same jobs of each rule, in a fresh folder (a copy of
    config.yaml, which the Snakefile reads from the working folder; nothing done yet)."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    extra = ["--configfile", str(ROOT / config)] if config else []
    made = [str(ROOT / a) if a == config else a for a in make_run_snakemake(*([f"CONFIG={config}"] if config else []))]

    def plan(argv) -> dict:
        out = subprocess.run([*SNAKEMAKE, *argv, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                              "-n", "--quiet", "rules"], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return job_counts(out.stdout + out.stderr)

    bare = plan(["--cores", "2", *extra])
    assert int(bare["total"]) > 50
    assert plan(made) == bare
