"""`basesel analyze` on tables that are not the workflow's: any score names, wide or long, groups
per target, several ground truths, empty cells, groups too small, and every bad input named before
anything is computed. Expectations from scipy on the rows by hand, not from the analysis itself."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats


def bench(seed=0, targets=("cars", "dtd", "pets"), n=6):
    """A published benchmark's shape: a row per (target, model), two ground truths, scores of any name."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in targets:
        for k in range(n):
            acc = float(rng.uniform(50, 95))
            rows.append({"target": t, "model": f"m{k}", "finetune": acc, "linear": acc - float(rng.uniform(0, 20)),
                         "MyScore": acc + float(rng.normal(0, 5)), "Entropy": -acc + float(rng.normal(0, 8)),
                         "Noise": float(rng.normal())})
    return pd.DataFrame(rows)


def analyze_cli(tmp_path, table, *args, name="t.tsv"):
    path = tmp_path / name
    if isinstance(table, pd.DataFrame):
        table.to_csv(path, sep="," if name.endswith(".csv") else "\t", index=False)
    else:
        path.write_text(table)
    out = subprocess.run([sys.executable, "-m", "basesel.cli", "analyze", str(path), str(tmp_path / "out"),
                          "--bootstrap", "50", *args], capture_output=True, text=True)
    return out


def read(tmp_path, name, sub=""):
    return pd.read_csv(tmp_path / "out" / sub / name, sep="\t")


def test_any_scores_grouped_per_target_against_scipy(tmp_path):
    df = bench()
    out = analyze_cli(tmp_path, df, "--truth", "finetune", "--ignore", "linear", "--lower-is-better", "Entropy")
    assert out.returncode == 0, out.stderr
    assert "groups: target" in out.stdout and "no S5 and S6" in out.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["correlations.tsv", "leaderboard.tsv",
                                                                     "picks.tsv", "summary.json", "win_rates.tsv"]
    corr = read(tmp_path, "correlations.tsv")
    assert list(corr.columns[:4]) == ["target", "metric", "n_models", "rho"]
    assert len(corr) == 3 * 3
    for (t, m), row in corr.set_index(["target", "metric"]).iterrows():
        g = df[df.target == t]
        x = -g[m] if m == "Entropy" else g[m]  # declared lower-is-better: oriented before weighted tau
        assert row.weighted_tau == pytest.approx(stats.weightedtau(x, g.finetune).statistic, abs=1e-6)
        assert row.pearson_r == pytest.approx(stats.pearsonr(g[m], g.finetune).statistic, abs=1e-6)
        assert row.rho == pytest.approx(stats.spearmanr(g[m], g.finetune).statistic, abs=1e-6)
        assert row.regret == pytest.approx(g.finetune.max() - g.finetune[x.idxmax()], abs=1e-4)
        assert row.weighted_tau_lo <= row.weighted_tau_hi
    board = read(tmp_path, "leaderboard.tsv").set_index("score")
    for m in ("MyScore", "Entropy", "Noise"):
        means = corr[corr.metric == m].weighted_tau.mean()
        assert board.loc[m, "mean_weighted_tau"] == pytest.approx(means, abs=1e-5)
    assert board.index[0] in ("MyScore", "Entropy") and board.loc["Entropy", "kind"] == "baseline"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["layout"] == {"model": "model", "groups": ["target"], "truth": "finetune",
                                 "lower_is_better": ["Entropy", "S2", "S4", "S5", "S6"]}
    assert "c56" not in summary and "S5 and S6" in summary["alpha_sweep"]


def test_win_rates_across_groups_by_hand(tmp_path):
    """Three scores, three targets: A ranks perfectly on cars and dtd, B on pets (ties with A on
    nothing), C is the reverse of the truth everywhere; so A wins 2/3 of the groups, B 1/3."""
    rows = []
    acc = [60.0, 70.0, 80.0, 90.0]
    for t in ("cars", "dtd", "pets"):
        for k, a in enumerate(acc):
            good = float(k)
            rows.append({"target": t, "model": f"m{k}", "accuracy": a,
                         "A": good if t != "pets" else [0.0, 2.0, 1.0, 3.0][k],
                         "B": good if t == "pets" else [1.0, 0.0, 2.0, 3.0][k], "C": -good})
    out = analyze_cli(tmp_path, pd.DataFrame(rows))
    assert out.returncode == 0, out.stderr
    board = read(tmp_path, "leaderboard.tsv").set_index("score")
    assert board.loc["A", "wins"] == pytest.approx(2 / 3) and board.loc["B", "wins"] == pytest.approx(1 / 3)
    assert board.loc["C", "wins"] == 0 and board.loc["C", "mean_weighted_tau"] == pytest.approx(-1)
    wins = read(tmp_path, "win_rates.tsv").set_index(["score", "other"])
    assert wins.loc[("A", "B"), "beats"] == pytest.approx(2 / 3) and wins.loc[("A", "B"), "cases"] == 3
    assert wins.loc[("A", "C"), "beats"] == 1.0 and wins.loc[("C", "A"), "beats"] == 0.0


def test_long_form_and_csv_give_what_the_wide_table_gives(tmp_path):
    df = bench(1)
    wide = analyze_cli(tmp_path, df, "--truth", "finetune", "linear")
    assert wide.returncode == 0, wide.stderr
    expected = {t: {f: (tmp_path / "out" / t / f).read_text() for f in ("correlations.tsv", "leaderboard.tsv")}
                for t in ("finetune", "linear")}
    long = df.melt(id_vars=["target", "model", "finetune"], value_vars=["linear", "MyScore", "Entropy", "Noise"],
                   var_name="score", value_name="value")
    for name in ("long.tsv", "long.csv"):
        got = analyze_cli(tmp_path, long.sample(frac=1, random_state=0), "--truth", "finetune", "linear", name=name)
        assert got.returncode == 0, got.stderr
        assert "long form" in got.stdout
        for t in ("finetune", "linear"):
            for f in ("correlations.tsv", "leaderboard.tsv"):
                assert (tmp_path / "out" / t / f).read_text() == expected[t][f], (name, t, f)


def test_each_ground_truth_on_its_own(tmp_path):
    df = bench(2)
    both = analyze_cli(tmp_path, df, "--truth", "finetune", "linear")
    assert both.returncode == 0, both.stderr
    assert "finetune: 3 group(s)" in both.stdout and "linear: 3 group(s)" in both.stdout
    corr = read(tmp_path, "correlations.tsv", "linear").set_index(["target", "metric"])
    assert "finetune" not in set(corr.index.get_level_values(1))  # one truth is never a score of the other
    g = df[df.target == "dtd"]
    assert corr.loc[("dtd", "MyScore"), "rho"] == pytest.approx(stats.spearmanr(g.MyScore, g.linear).statistic, abs=1e-6)


def test_empty_cells_leave_a_model_out_of_that_score_and_are_counted(tmp_path):
    df = bench(3, n=5).astype({"MyScore": object, "finetune": object})
    df.loc[(df.target == "cars") & (df.model == "m1"), "MyScore"] = ""  # one value not reported
    df.loc[(df.target == "pets") & df.model.isin(["m0", "m1", "m2"]), "MyScore"] = "NA"  # only two left
    df.loc[(df.target == "dtd") & (df.model == "m4"), "finetune"] = "-"  # no ground truth: the row goes
    out = analyze_cli(tmp_path, df, "--truth", "finetune", "--ignore", "linear")
    assert out.returncode == 0, out.stderr
    corr = read(tmp_path, "correlations.tsv").set_index(["target", "metric"])
    cars = df[(df.target == "cars") & (df.model != "m1")]
    row = corr.loc[("cars", "MyScore")]
    assert row.n_models == 4 and row.n_missing == 1
    assert row.rho == pytest.approx(stats.spearmanr(cars.MyScore.astype(float), cars.finetune).statistic, abs=1e-6)
    assert corr.loc[("cars", "Noise"), "n_models"] == 5  # the other scores keep the model
    assert ("pets", "MyScore") not in corr.index  # two models with a value: no correlation
    assert corr.loc[("dtd", "Noise"), "n_models"] == 4
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["models_without_value"] == {"MyScore": {"cars": 1, "pets": 3}}
    assert summary["too_few_values"] == {"MyScore": ["pets"]} and summary["rows_without_truth"] == 1
    assert "left out of MyScore: 4 model(s) without a value, in cars (1), pets (3)" in out.stdout
    assert "MyScore not ranked in pets" in out.stdout and "1 row(s) without a finetune value" in out.stdout


def test_a_group_of_fewer_than_three_models_is_skipped_and_named(tmp_path):
    df = bench(4)
    df = df[(df.target != "pets") | df.model.isin(["m0", "m3"])]
    out = analyze_cli(tmp_path, df, "--truth", "finetune", "--ignore", "linear")
    assert out.returncode == 0, out.stderr
    assert "skipped group pets: 2 model(s) with a ground truth, fewer than 3: m0, m3" in out.stdout
    assert set(read(tmp_path, "correlations.tsv").target) == {"cars", "dtd"}


def test_workflow_conventions_and_c56_where_s5_and_s6_are(tmp_path):
    """A table with arch and source is grouped per (arch, target), as the workflow's; S5 and S6 make
    the alpha sweep and C_56."""
    from test_analysis import random_table

    out = analyze_cli(tmp_path, random_table(5), "--alpha-step", "0.1")
    assert out.returncode == 0, out.stderr
    assert "groups: arch, target" in out.stdout and "C_56: best alpha" in out.stdout
    assert {"alpha_sweep.tsv", "best_alpha.tsv", "c56_summary.tsv"} <= {p.name for p in (tmp_path / "out").iterdir()}


@pytest.mark.parametrize("edit, args, message", [
    (lambda d: d.drop(columns="accuracy"), (), "ground-truth column accuracy not in the table"),
    (lambda d: d, ("--truth", "top1"), "ground-truth column top1 not in the table"),
    (lambda d: d.astype({"MyScore": object}).assign(MyScore=lambda x: x.MyScore.where(x.index != 7, "0.5x")), (),
     r"line 9 \(model 'm1' in group dtd\), column 'MyScore': '0.5x' is not a number"),
    (lambda d: d.astype({"accuracy": object}).assign(accuracy=lambda x: x.accuracy.where(x.index != 2, "n/a")), (),
     r"line 4 \(model 'm2' in group cars\), column 'accuracy': 'n/a' is not a number"),
    (lambda d: pd.concat([d, d.iloc[[4]]]), (), r"model 'm4' appears more than once in group cars \(lines 6, 20\)"),
    (lambda d: d, ("--group-by", "dataset"), "--group-by dataset: no such column"),
    (lambda d: d, ("--model", "net"), "--model net: no such column"),
    (lambda d: d, ("--lower-is-better", "Entrpy"), "--lower-is-better Entrpy: not a score of the table"),
    (lambda d: d, ("--scores", "MyScore", "Foo"), "--scores Foo: not a score column"),
    (lambda d: d, ("--ignore", "notes"), "--ignore notes: no such column"),
    (lambda d: d.rename(columns={"model": "net"}), (), "no model column"),
])
def test_bad_input_is_named_before_anything_is_computed(tmp_path, edit, args, message):
    df = bench(5).drop(columns=["linear"]).rename(columns={"finetune": "accuracy"})
    out = analyze_cli(tmp_path, edit(df), *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert message.replace("\\", "") in out.stderr or __import__("re").search(message, out.stderr), out.stderr
    assert not (tmp_path / "out").exists()  # nothing written


def test_bad_long_tables(tmp_path):
    df = bench(6).drop(columns=["linear"])
    long = df.melt(id_vars=["target", "model", "finetune"], var_name="score", value_name="value")
    twice = pd.concat([long, long.iloc[[3]]])
    out = analyze_cli(tmp_path, twice, "--truth", "finetune")
    assert out.returncode == 2 and "has score 'MyScore' more than once in group cars" in out.stderr
    bad = long.astype({"value": object})
    bad.loc[5, "value"] = "high"
    out = analyze_cli(tmp_path, bad, "--truth", "finetune")
    assert out.returncode == 2 and "line 7 (model 'm5', score 'MyScore'), column 'value': 'high' is not a number" in out.stderr
    out = analyze_cli(tmp_path, long, "--truth", "finetune", "--form", "sideways")
    assert out.returncode == 2 and "invalid choice: 'sideways'" in out.stderr
