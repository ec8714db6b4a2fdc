"""Replicates: each redraws the training seeds and the probe sets on the same data; the measures
across replicates against a direct loop over the per-replicate tables, win rates against a case
computed by hand, and the tiny config run with two replicates."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from basesel.machinery.plan import replicate_folder, replicate_index, replicate_seed
from basesel.science.featuremap_scores import METRICS
from basesel.science.replicates import across, win_rates
from helpers import TINY, planned_jobs, random_table, smk, with_changes


def test_replicate_seeds_and_folders():
    assert replicate_seed(7, 0) == 7  # replicate 0 is the run itself
    seeds = {replicate_seed(7, k) for k in range(1, 6)}
    assert len(seeds) == 5 and 7 not in seeds and replicate_seed(7, 3) == replicate_seed(7, 3)
    assert replicate_seed(8, 1) != replicate_seed(7, 1)
    assert [replicate_index(f) for f in ("", replicate_folder(1), replicate_folder(12))] == [0, 1, 12]


def test_measures_across_replicates_are_those_of_each_replicates_table():
    """mean over groups of scipy's weighted tau (and Spearman rho) of each score in each replicate's
    table, then mean, sd (ddof 1) and range over replicates: a direct loop gives the same."""
    tables = [random_table(seed) for seed in (1, 2, 3)]
    out = across(tables, alpha_step=0.05)["replicates.tsv"].set_index("score")
    for m in METRICS:
        sign = -1 if m in ("S2", "S4", "S5", "S6") else 1
        wtaus, rhos = [], []
        for table in tables:
            per = [(stats.weightedtau(sign * g[m], g.accuracy).statistic, stats.spearmanr(sign * g[m], g.accuracy).statistic)
                   for _, g in table.groupby(["arch", "target"])]
            wtaus.append(np.mean([w for w, _ in per]))
            rhos.append(np.mean([r for _, r in per]))
        row = out.loc[m]
        assert [row[f"weighted_tau_r{k}"] for k in range(3)] == pytest.approx(wtaus)
        assert [row[f"rho_r{k}"] for k in range(3)] == pytest.approx(rhos)
        assert row.mean_weighted_tau == pytest.approx(np.mean(wtaus))
        assert row.sd_weighted_tau == pytest.approx(np.std(wtaus, ddof=1))
        assert (row.min_rho, row.max_rho) == pytest.approx((min(rhos), max(rhos)))
    assert {"C_56(0.574)", "C_56(LOGO)"} <= set(out.index)
    assert out.mean_weighted_tau.is_monotonic_decreasing


def test_win_rates_by_hand():
    """Three cases (replicate, group), three scores: A wins case 1, B case 2, A and B tie in case 3
    (half a win each), C never; C does not apply in case 2."""
    cases = pd.DataFrame([
        {"replicate": 0, "group": "g", "score": "A", "weighted_tau": 0.9},
        {"replicate": 0, "group": "g", "score": "B", "weighted_tau": 0.1},
        {"replicate": 0, "group": "g", "score": "C", "weighted_tau": 0.5},
        {"replicate": 1, "group": "g", "score": "A", "weighted_tau": 0.2},
        {"replicate": 1, "group": "g", "score": "B", "weighted_tau": 0.8},
        {"replicate": 1, "group": "g", "score": "C", "weighted_tau": np.nan},
        {"replicate": 2, "group": "g", "score": "A", "weighted_tau": 0.6},
        {"replicate": 2, "group": "g", "score": "B", "weighted_tau": 0.6},
        {"replicate": 2, "group": "g", "score": "C", "weighted_tau": 0.3},
    ])
    wins, pairwise = win_rates(cases)
    assert wins == pytest.approx({"A": 1.5 / 3, "B": 1.5 / 3, "C": 0.0})
    beats = pairwise.set_index(["score", "other"])
    assert beats.loc[("A", "B"), "beats"] == pytest.approx((1 + 0 + 0.5) / 3) and beats.loc[("A", "B"), "cases"] == 3
    assert beats.loc[("A", "C"), "beats"] == pytest.approx(2 / 2) and beats.loc[("A", "C"), "cases"] == 2  # C n/a once
    assert beats.loc[("C", "B"), "beats"] == pytest.approx(1 / 2)


def test_conclusions_name_what_holds_in_every_replicate():
    tables = []
    for seed in (4, 5):
        t = random_table(seed)
        t["S3"] = t.accuracy + np.random.default_rng(seed).normal(0, 0.01, len(t))  # S3 ranks well in both
        tables.append(t)
    doc = across(tables, alpha_step=0.05)["replicates.json"]
    assert doc["replicates"] == 2 and len(doc["c56_best_alpha"]) == 2
    assert "S3 ranks first by mean weighted tau in every replicate" in doc["conclusions"]
    assert "S3 ranks base models better than chance (weighted tau > 0) in every replicate" in doc["conclusions"]


def test_one_more_replicate_adds_only_its_jobs(tmp_path):
    one, two = planned_jobs(tmp_path, TINY).counts, planned_jobs(tmp_path, with_changes(TINY, replicates=2)).counts
    per_replicate = {"probe", "pretrain", "features", "featuremaps", "scores", "baselines", "finetune_head", "table"}
    for rule, n in two.items():
        if rule in per_replicate:
            assert n == 2 * one[rule], rule
        elif rule not in ("replicates", "plot_replicates"):
            assert n == one[rule], rule  # data, subsets, Figure 1, A.2, plots, analysis: the run's own
    assert two["replicates"] == two["plot_replicates"] == 1
    assert "replicates" not in one and "plot_replicates" not in one


@pytest.mark.slow
def test_the_tiny_config_with_two_replicates(tiny_run, tmp_path):
    """A second replicate added to (a copy of) the tiny run: replicate 0 is the run itself, so its
    table stays the run's."""
    work = tmp_path / "copy"
    shutil.copytree(tiny_run, work, symlinks=True)
    config = with_changes(TINY, replicates=2)
    smk(work, config=config)
    smk(work, "--report", "results/report.html", config=config)
    results = work / "results"
    rep1 = results / "replicates" / "r1"
    t0, t1 = (pd.read_csv(p / "analysis/table.tsv", sep="\t") for p in (results, rep1))
    pd.testing.assert_frame_equal(t0, pd.read_csv(tiny_run / "results/analysis/table.tsv", sep="\t"), check_exact=True)
    assert t0[["arch", "source", "target"]].equals(t1[["arch", "source", "target"]])
    assert not np.allclose(t0.accuracy, t1.accuracy)  # other training seeds
    # the same data, subsets; other probe draws and other training
    assert (results / "subsets").exists() and not (rep1 / "subsets").exists()
    p0, p1 = (pd.read_csv(p / "probes/shapes.tsv", sep="\t") for p in (results, rep1))
    assert len(p0) == len(p1) and set(p0.path) != set(p1.path)
    e0 = pd.read_csv(results / "pretrain/resnet18/cw8-0/epochs.tsv", sep="\t")
    e1 = pd.read_csv(rep1 / "pretrain/resnet18/cw8-0/epochs.tsv", sep="\t")
    assert not np.allclose(e0.train_loss, e1.train_loss)
    summary = pd.read_csv(results / "analysis/replicates.tsv", sep="\t").set_index("score")
    expected = across([t0, t1], alpha_step=TINY["analysis"]["alpha_step"])["replicates.tsv"].set_index("score")
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False, rtol=1e-5)
    doc = json.loads((results / "analysis/replicates.json").read_text())
    assert doc["replicates"] == 2 and isinstance(doc["conclusions"], list)
    html = (results / "report.html").read_text(errors="ignore")
    assert "replicates.tsv" in html
    # each replicate's per-epoch logs and tables are told apart in the report by a replicate label
    assert '"replicate": "0", "architecture": "alexnet", "subset": "cw8-0"' in html
    assert '"replicate": "1", "architecture": "alexnet", "subset": "cw8-0"' in html
