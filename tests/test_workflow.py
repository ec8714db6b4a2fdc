"""The DAG: lint, config validation before any job, bad input, the end-to-end tiny run, invalidation."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())


def smk(workdir, *args, config=None, check=True, timeout=1800):
    # Targets and flags first: --configfile takes every word after it.
    cmd = [*SNAKEMAKE, *args, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    # As from the repository root: config.yaml, then the overlay (lists replace, mappings merge).
    cmd += ["--configfile", str(ROOT / "config.yaml")]
    if config is not None:
        path = Path(workdir) / "test-config.yaml"
        path.write_text(yaml.safe_dump(config))
        cmd.append(str(path))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")
    return out


def dry_jobs(workdir, config):
    """{rule: count} and the (rule, wildcards) lines of a dry run."""
    out = smk(workdir, "-n", config=config)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}, []
    stats = text.split("Job stats:")[1].split("Reasons:")[0] if "Reasons:" in text else text.split("Job stats:")[1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}
    jobs = re.findall(r"rule (\w+):\n(?:.*\n)*?\s+wildcards: ([^\n]+)", text)
    return counts, jobs


def with_changes(config, **changes):
    import copy

    new = copy.deepcopy(config)
    for path, value in changes.items():
        node = new
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        node[keys[-1]] = value
    return new


def test_lint_is_clean(tmp_path):
    out = smk(ROOT, "--lint", check=False)
    assert out.returncode == 0
    assert "Congratulations, your workflow is in a good condition" in out.stdout + out.stderr


def test_default_config_dry_run(tmp_path):
    counts, _ = dry_jobs(tmp_path, None)
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    n_sub = sum(cfg["source"]["embedded"]["classes"] // n for n in cfg["subsets"]["classwise"]) + sum(cfg["subsets"]["horizontal"])
    assert n_sub >= 10
    n_arch, n_targets = len(cfg["architectures"]), len(cfg["targets"])
    assert counts["pretrain"] == n_arch * n_sub
    assert counts["featuremaps"] == n_arch * n_sub
    assert counts["scores"] == n_arch * n_sub * n_targets
    assert counts["embedded_dataset"] == 1 + n_targets


@pytest.mark.parametrize("change,message", [
    ({"finetune__epochz": 3}, "epochz"),
    ({"finetune__schedule__epochs": "ten"}, "'ten' is not of type 'integer'"),
    ({"targets": [{"name": "mine", "folder": "/nonexistent/data"}]}, "/nonexistent/data does not exist"),
    ({"architectures": [{"name": "alexnet", "width": 0.25, "input_size": 40}]}, "input_size 40 is below the 63 px"),
    ({"featuremaps__probe_per_class": 20}, "fewer than featuremaps.probe_per_class=20"),
    ({"subsets": {"classwise": [], "horizontal": [2]}}, "rank correlations need at least 3"),
])
def test_bad_config_fails_before_any_job(tmp_path, change, message):
    config = {**TINY, **{k: v for k, v in change.items() if "__" not in k}}
    config = with_changes(config, **{k: v for k, v in change.items() if "__" in k})
    out = smk(tmp_path, "-n", config=config, check=False)
    assert out.returncode != 0
    assert message in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


def test_corrupt_image_and_one_class_target_are_named(tmp_path):
    from basesel import synthetic

    data = tmp_path / "mydata"
    synthetic.generate_target(data, kind="colour", seed=0, num_classes=2, train_per_class=5, test_per_class=2, size=32)
    bad = data / "train" / "colour01" / "00003.png"
    bad.write_bytes(b"garbage")
    config = with_changes(TINY, targets=[{"name": "mine", "folder": str(data)}])
    out = smk(tmp_path, "results/data/index/mine.tsv", config=config, check=False)
    assert out.returncode != 0
    assert "00003.png" in out.stdout + out.stderr
    assert not (tmp_path / "results/data/index/mine.tsv").exists()

    shutil.rmtree(data / "train" / "colour01")
    shutil.rmtree(data / "test" / "colour01")
    out = smk(tmp_path, "-n", config=config, check=False)
    assert out.returncode != 0 and "has one class" in out.stdout + out.stderr


@pytest.mark.slow
def test_end_to_end_tiny_run(tiny_run):
    report = tiny_run / "results" / "report.html"
    assert report.stat().st_size > 100_000
    text = report.read_text(errors="ignore")
    for category in ("Data and subsets", "Pretraining", "Scores", "Fine-tuning", "Correlations", "Alpha sweep", "Summary"):
        assert category in text
    table = pd.read_csv(tiny_run / "results/analysis/table.tsv", sep="\t")
    n_sub = sum(TINY["source"]["embedded"]["classes"] // n for n in TINY["subsets"]["classwise"]) + sum(TINY["subsets"]["horizontal"])
    assert len(table) == len(TINY["architectures"]) * n_sub * len(TINY["targets"])
    assert table[["S1", "S2", "S3", "S4", "S5", "S6", "accuracy"]].notna().all().all()
    sweep = pd.read_csv(tiny_run / "results/analysis/alpha_sweep.tsv", sep="\t")
    assert sweep.pair.nunique() == 15
    c56 = pd.read_csv(tiny_run / "results/analysis/c56_summary.tsv", sep="\t")
    assert "leave-one-group-out rho" in set(c56.quantity)
    # no temporary or resume files left behind
    leftovers = [p for p in (tiny_run / "results").rglob("*") if (p.name.startswith(".") and p.name != ".snakemake_timestamp") or p.name.endswith("resume.pt")]
    assert leftovers == []
    # `basesel scores` on a workflow file agrees with the workflow's scores
    h5 = next((tiny_run / "results/featuremaps").rglob("*.h5"))
    out = subprocess.run([sys.executable, "-m", "basesel.cli", "scores", str(h5)], capture_output=True, text=True, check=True)

    rel = h5.relative_to(tiny_run / "results/featuremaps").with_suffix(".json")
    assert json.loads(out.stdout) == pytest.approx(json.loads((tiny_run / "results/scores" / rel).read_text()))


@pytest.mark.slow
def test_nothing_to_do_after_a_run(tiny_run):
    counts, _ = dry_jobs(tiny_run, TINY)
    assert counts == {}


@pytest.mark.slow
def test_compute_settings_rerun_nothing(tiny_run):
    counts, _ = dry_jobs(tiny_run, with_changes(TINY, compute={"threads": 2, "preload_max_mb": 10}))
    assert counts == {}


@pytest.mark.slow
def test_finetune_change_reruns_only_finetune_and_downstream(tiny_run):
    config = with_changes(TINY, finetune__schedule__epochs=TINY["finetune"]["schedule"]["epochs"] + 1)
    counts, _ = dry_jobs(tiny_run, config)
    # The layer selection trains its new FC layers with the fine-tuning schedule too.
    assert set(counts) == {"finetune_head", "table", "analysis", "plot_scores", "plot_finetune", "plot_figure2", "plot_figure3",
                           "plot_leaderboard", "layer_selection", "layer_correlations", "plot_figure4", "plot_figure5", "all"}


@pytest.mark.slow
def test_one_architecture_change_reruns_only_its_branch(tiny_run):
    archs = [dict(a) for a in TINY["architectures"]]
    i = [a["name"] for a in archs].index("resnet18")
    archs[i] = {**archs[i], "pretrain": {**archs[i]["pretrain"], "epochs": archs[i]["pretrain"]["epochs"] + 1}}
    counts, jobs = dry_jobs(tiny_run, with_changes(TINY, architectures=archs))
    branch = [(rule, wc) for rule, wc in jobs if rule in ("pretrain", "featuremaps", "scores", "finetune_head", "plot_pretraining")]
    assert branch and all("arch=resnet18" in wc for _, wc in branch)
    n_sub = counts["pretrain"]
    assert counts["featuremaps"] == n_sub and counts["scores"] == n_sub * len(TINY["targets"])
    assert "embedded_dataset" not in counts and "subsets" not in counts


@pytest.mark.slow
def test_full_mode_fine_tunes_the_whole_network(tiny_run, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    config = with_changes(TINY, finetune={"mode": "full", "schedule": {"epochs": 2, "batch_size": 16}})
    counts, _ = dry_jobs(work, config)
    assert "pretrain" not in counts and "featuremaps" not in counts
    assert counts["finetune_full"] == len(TINY["architectures"]) * 4 * len(TINY["targets"])
    target = "results/finetune/resnet18/cw8-0/shapes.json"
    smk(work, target, config=config)
    result = json.loads((work / target).read_text())
    assert result["mode"] == "full" and result["epochs"] == 2 and 0 <= result["accuracy"] <= 1
    log = pd.read_csv(work / "results/finetune/resnet18/cw8-0/shapes.log.tsv", sep="\t")
    assert len(log) == 2
