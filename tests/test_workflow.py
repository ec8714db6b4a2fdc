"""The DAG: lint, its jobs, config validation before any job, bad input, and the end-to-end tiny run."""
import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from helpers import DEFAULT, ROOT, TINY, leftovers, planned_jobs, smk, with_changes


def n_subsets(config):
    src = config["source"]["embedded"]
    return sum(src["classes"] // n for n in config["subsets"]["classwise"]) + sum(config["subsets"]["horizontal"])


def test_lint_is_clean():
    out = smk(ROOT, "--lint", check=False)
    assert out.returncode == 0
    assert "Congratulations, your workflow is in a good condition" in out.stdout + out.stderr


def test_snakefmt_is_clean():
    """The Snakefile and every .smk file as snakefmt formats them, with the settings of pyproject.toml."""
    out = subprocess.run([str(Path(sys.executable).with_name("snakefmt")), "--check", "."], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    files = 1 + len(list((ROOT / "workflow" / "rules").glob("*.smk")))  # every one checked: none left out
    assert f"All {files} file(s) would be left unchanged" in out.stderr, out.stderr


def test_default_dag_has_a_job_per_pair(tmp_path):
    plan = planned_jobs(tmp_path)
    subsets, archs, targets = n_subsets(DEFAULT), len(DEFAULT["architectures"]), len(DEFAULT["targets"])
    assert subsets == 11
    pairs = archs * subsets * targets
    assert plan.counts == {
        "embedded_dataset": 1 + targets, "index_dataset": 1 + targets, "subset": subsets, "probe": targets,
        # each dataset decoded once at each input size the architectures take
        "decode_images": (1 + targets) * len({a["input_size"] for a in DEFAULT["architectures"]}),
        "pretrain": archs * subsets, "features": pairs, "featuremaps": pairs, "scores": pairs, "baselines": pairs,
        "finetune_head": pairs, "table": 1, "analysis": 1, "answer": 1, "published": 1,
        "plot_data": 1, "plot_pretraining": archs, "plot_scores": archs, "plot_finetune": 1, "plot_figure2": 1,
        "plot_figure3": 1, "plot_leaderboard": 1, "plot_cost": 1,
        # Figure 1 and Appendix A.2 on resnet18 (config.yaml)
        "pretrain_whole": 1, "curve_scores": 1, "curve_correlations": 1, "plot_figure1": 1,
        "layer_features": targets, "layer_scores": targets, "layer_heads": targets, "layer_table": 1,
        "layer_correlations": 1, "plot_figure4": 1, "plot_figure5": 1, "all": 1,
    }
    assert {wc["target"] for wc in plan.wildcards("features")} == {t["name"] for t in DEFAULT["targets"]}


@pytest.mark.parametrize("change,message", [
    ({"finetune__epochz": 3}, "epochz"),
    ({"finetune__schedule__epochs": "ten"}, "'ten' is not of type 'integer'"),
    ({"targets": [{"name": "mine", "folder": "/nonexistent/data"}]}, "/nonexistent/data does not exist"),
    ({"architectures": [{"name": "alexnet", "width": 0.25, "input_size": 40}]}, "input_size 40 is below the 63 px"),
    ({"featuremaps__probe_per_class": 20}, "fewer than featuremaps.probe_per_class=20"),
    ({"subsets": {"classwise": [], "horizontal": [2]}}, "rank correlations need at least 3"),
    ({"curves__keep_checkpoints": True}, "keep_checkpoints"),
])
def test_bad_config_fails_before_any_job(tmp_path, change, message):
    config = {**TINY, **{k: v for k, v in change.items() if "__" not in k}}
    config = with_changes(config, **{k: v for k, v in change.items() if "__" in k})
    out = smk(tmp_path, "-n", config=config, check=False)
    assert out.returncode != 0
    assert message in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


def test_bad_experiment_config_fails_before_any_job(tmp_path):
    config = with_changes(TINY, architectures=[a for a in TINY["architectures"] if a["name"] != "alexnet"])
    out = smk(tmp_path, "-n", config=config, check=False)
    assert out.returncode != 0 and "curves.architectures: alexnet not among the configured" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


def test_corrupt_image_one_class_and_small_class_are_named(tmp_path):
    from basesel.data import synthetic

    data = tmp_path / "mydata"
    synthetic.generate_target(data, kind="colour", seed=0, num_classes=3, train_per_class=5, test_per_class=2, size=32)
    bad = data / "train" / "colour01" / "00003.png"
    bad.write_bytes(b"garbage")
    config = with_changes(TINY, targets=[{"name": "mine", "folder": str(data)}], featuremaps__probe_per_class=5)
    out = smk(tmp_path, "results/data/index/mine.tsv", config=config, check=False)
    assert out.returncode != 0
    assert "00003.png" in out.stdout + out.stderr
    assert not (tmp_path / "results/data/index/mine.tsv").exists()

    # A class with fewer training images than the probe takes: the index is fine (it does not
    # depend on the probe size); the probe rule names the class before any featuremap is computed.
    bad.unlink()
    out = smk(tmp_path, "results/probes/mine.tsv", config=config, check=False)
    assert out.returncode != 0
    assert "class 'colour01' has 4 training images, fewer than probe_per_class=5" in out.stdout + out.stderr
    assert (tmp_path / "results/data/index/mine.tsv").exists()
    assert not (tmp_path / "results/probes/mine.tsv").exists()
    # every featuremap job of the target waits for this rule
    plan = planned_jobs(tmp_path, config, "results/featuremaps/resnet18/cw8-0/mine.h5")
    assert {"probe", "featuremaps"} <= set(plan.counts)

    shutil.rmtree(data / "train" / "colour01")
    shutil.rmtree(data / "test" / "colour01")
    shutil.rmtree(data / "train" / "colour02")
    shutil.rmtree(data / "test" / "colour02")
    out = smk(tmp_path, "-n", config=config, check=False)
    assert out.returncode != 0 and "has one class" in out.stdout + out.stderr


@pytest.mark.slow
def test_end_to_end_tiny_run(tiny_run):
    """The run's tables hold what their inputs say: every row of table.tsv is its pair's files, and
    every analysis table is the analysis of table.tsv, recomputed here."""
    from basesel.io import read_json
    from basesel.science.analysis import EXACT, analyze

    results = tiny_run / "results"
    table = pd.read_csv(results / "analysis/table.tsv", sep="\t")
    assert len(table) == len(TINY["architectures"]) * n_subsets(TINY) * len(TINY["targets"])
    assert table[["S1", "S2", "S3", "S4", "S5", "S6", "LogME", "SFDA", "accuracy"]].notna().all().all()
    for row in table.itertuples():
        pair = f"{row.arch}/{row.source}/{row.target}"
        scores = read_json(results / f"scores/{pair}.json")
        baselines = read_json(results / f"baselines/{pair}.json")
        finetune = read_json(results / f"finetune/{pair}.json")
        for name in ("S1", "S3", "S6", "LogME@probe"):
            assert table.loc[row.Index, name] == pytest.approx(scores[name], rel=1e-9), (pair, name)
        assert table.loc[row.Index, "NLEEP"] == pytest.approx(baselines["NLEEP"], rel=1e-9)
        assert row.accuracy == finetune["accuracy"]
    expected = analyze(table, alpha_step=TINY["analysis"]["alpha_step"], n_boot=TINY["analysis"]["bootstrap"],
                       seed=DEFAULT["seed"])
    for name, frame in expected.items():
        path = results / "analysis" / name
        if name.endswith(".json"):
            assert json.loads(path.read_text()) == json.loads(json.dumps(frame)), name
        elif name in EXACT:  # written as they are: numbers and group names side by side
            assert pd.read_csv(path, sep="\t").astype(str).equals(frame.astype(str)), name
        else:  # written at 6 significant digits
            pd.testing.assert_frame_equal(pd.read_csv(path, sep="\t"), frame, check_dtype=False, rtol=1e-5, obj=name)
    sweep = pd.read_csv(results / "analysis/alpha_sweep.tsv", sep="\t")
    assert sweep.pair.nunique() == 15
    c56 = pd.read_csv(results / "analysis/c56_summary.tsv", sep="\t")
    assert "leave-one-group-out rho" in set(c56.quantity)
    assert leftovers(results) == []
    assert not list((tiny_run / ".snakemake").glob("basesel-warm-*"))  # nothing of the server in the project folder


@pytest.mark.slow
def test_report_holds_every_result_with_its_caption(tiny_run, tmp_path):
    """Every file a rule marks for the report (read from the DAG: report() in any rule file, a loop's
    generated rules included) is in it, under its category, with its caption."""
    text = (tiny_run / "results" / "report.html").read_text(errors="ignore")
    marked = planned_jobs(tmp_path, TINY).reports
    assert len(marked) >= 30
    categories = {category for _, category in marked.values()}
    assert categories == {"1. Data and subsets", "2. Pretraining", "3. Scores", "4. Fine-tuning", "5. Correlations",
                          "6. Alpha sweep", "7. Summary", "8. Scores during training", "9. Layer selection",
                          "10. Published benchmarks"}
    for path, (caption, category) in marked.items():
        assert Path(path).name in text, path  # each file appears under its own name
        assert category in text
        first = " ".join((ROOT / "workflow" / "report" / caption).read_text().split()[:4])
        assert first.split("{{")[0].strip()[:20] in text, caption


@pytest.mark.slow
def test_results_are_readable_by_others(tiny_run):
    """Files written through a temporary name get the umask's permissions (0644 under 022), as a plain open()."""
    files = [p for p in (tiny_run / "results").rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"]
    assert len(files) > 100
    modes = {stat.S_IMODE(p.stat().st_mode) for p in files}
    assert modes == {0o644}, modes


@pytest.mark.slow
def test_cli_scores_of_workflow_files_equal_the_workflows(tiny_run):
    pair = "resnet18/cw8-0/shapes"
    fm = tiny_run / f"results/featuremaps/{pair}.h5"
    feats = tiny_run / f"results/features/{pair}.h5"
    out = subprocess.run([sys.executable, "-m", "basesel.cli", "scores", str(fm), str(feats)],
                         capture_output=True, text=True, check=True)
    expected = {**json.loads((tiny_run / f"results/scores/{pair}.json").read_text()),
                **json.loads((tiny_run / f"results/baselines/{pair}.json").read_text())}
    expected.pop("seconds")  # the workflow's measurements of what each score took
    assert json.loads(out.stdout) == pytest.approx(expected)
    assert {"S1", "LogME", "LogME@probe", "source_val_acc"} <= set(expected)
    # the probe featuremaps are the rows of the features file the probe table names
    probe = pd.read_csv(tiny_run / "results/probes/shapes.tsv", sep="\t")
    with h5py.File(fm) as a, h5py.File(feats) as b:
        assert (a["probe_index"][:] == probe.train_position).all()
        assert (b["feature_labels"][:][a["probe_index"][:]] == a["labels"][:]).all()
        assert np.bincount(a["labels"][:]).tolist() == [TINY["featuremaps"]["probe_per_class"]] * 4


@pytest.mark.slow
def test_nothing_to_do_after_a_run_and_compute_settings_rerun_nothing(tiny_run):
    assert planned_jobs(tiny_run, TINY).counts == {}
    compute = with_changes(TINY, compute={"threads": 2, "preload_max_mb": 10, "warm_start": False},
                           featuremaps__batch_size=7, scores__batch_size=5, data={"verify": "header"})
    assert planned_jobs(tiny_run, compute).counts == {}


@pytest.mark.slow
def test_full_mode_fine_tunes_the_whole_network(tiny_run, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    config = with_changes(TINY, finetune={"mode": "full", "schedule": {"epochs": 2, "batch_size": 16}})
    plan = planned_jobs(work, config)
    pairs = len(TINY["architectures"]) * n_subsets(TINY) * len(TINY["targets"])
    assert plan.counts["finetune_full"] == pairs
    assert not {"pretrain", "features", "featuremaps", "scores", "baselines"} & set(plan.counts)
    target = "results/finetune/resnet18/cw8-0/shapes.json"
    smk(work, target, config=config)
    result = json.loads((work / target).read_text())
    assert result["mode"] == "full" and result["epochs"] == 2 and 0 <= result["accuracy"] <= 1
    log = pd.read_csv(work / "results/finetune/resnet18/cw8-0/shapes.epochs.tsv", sep="\t")
    assert log.epoch.tolist() == [1, 2]


@pytest.mark.slow
def test_cuda_asked_on_a_node_without_one_is_named(tiny_run, tmp_path):
    """compute.device: cuda where no CUDA device is visible: the job ends with the reason, not a
    traceback, and leaves nothing half-written; with the device fixed, only that job reruns."""
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    target = "results/features/resnet18/cw8-0/shapes.h5"
    (work / target).unlink()
    out = smk(work, target, config=with_changes(TINY, compute={"device": "cuda"}), check=False)
    assert out.returncode != 0
    assert "no CUDA device is visible on this node" in out.stdout + out.stderr
    log = (work / "logs/features/resnet18/cw8-0/shapes.log").read_text()
    assert "no CUDA device is visible on this node" in log and "Traceback" not in log
    assert not (work / target).exists() and leftovers(work / "results") == []
    assert planned_jobs(work, TINY, target).counts == {"features": 1}


def test_local_runs_drop_the_job_rate_limiter_and_cluster_runs_keep_it():
    """machinery.scheduler: a local run's scheduler loses the limiter whose timer chains cost most
    of Snakemake's CPU time; a SLURM run keeps it; the pinned Snakemake still has it, and
    re-arms the scheduler through it (so that an upgrade that changes either is noticed here)."""
    import inspect
    from types import SimpleNamespace

    from snakemake.scheduling.job_scheduler import JobScheduler

    from basesel.machinery.scheduler import drop_local_rate_limit

    def workflow(executor):
        return SimpleNamespace(executor_plugin=SimpleNamespace(name=executor),
                               scheduler=SimpleNamespace(job_rate_limiter=object()))

    local, slurm = workflow("local"), workflow("slurm")
    assert drop_local_rate_limit(local) and local.scheduler.job_rate_limiter is None
    assert not drop_local_rate_limit(slurm) and slurm.scheduler.job_rate_limiter is not None
    assert not drop_local_rate_limit(SimpleNamespace(executor_plugin=None))
    assert "self.job_rate_limiter = (" in inspect.getsource(JobScheduler.__init__)
    assert "self._schedule_reevalutation(self.job_rate_limiter.timespan)" in inspect.getsource(JobScheduler.schedule)


@pytest.mark.slow
def test_report_answers_first(tiny_run):
    """The report's front page opens with the answer (answer.rst, as the answer rule wrote it from
    the leaderboard): the winning score before the account of the run and the guide to sections."""
    html = (tiny_run / "results" / "report.html").read_text(errors="ignore")
    winner = pd.read_csv(tiny_run / "results/analysis/leaderboard.tsv", sep="\t").score.iloc[0]
    first = html.index("The answer</h1>")
    assert first < html.index("The run</h1>") < html.index("How to read it</h1>")
    assert html.index(f"<strong>{winner}</strong> ranked this run") > first
    answer = (tiny_run / "results/analysis/answer.rst").read_text()
    assert answer.startswith("The answer\n") and f"**{winner}**" in answer
    # Snakemake centres the page beside the rule graph: a page taller than the window would lose its
    # top, the answer, unless the centring is "safe" (seen in headless Chromium; docs/report-front.png)
    assert "<style>.h-screen.items-center { align-items: safe center; }</style>" in html
