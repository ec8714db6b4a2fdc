"""The analysis against scipy, a constructed table with a known best alpha, and a direct LOGO loop."""
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from basesel import BaseselError
from basesel.science.analysis import (
    alpha_sweep,
    analyze,
    best_alphas,
    check_table,
    correlations,
    leave_one_group_out,
    minmax_signed,
)
from basesel.science.featuremap_scores import METRICS
from basesel.science.stats import spearman_rows
from helpers import random_table


def test_spearman_rows_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(20, 9)).astype(float)
    y = rng.integers(0, 5, size=9).astype(float)
    got = spearman_rows(x, y)
    for row, g in zip(x, got):
        expected = stats.spearmanr(row, y).statistic
        if np.isnan(expected):
            assert np.isnan(g)
        else:
            assert g == pytest.approx(expected)


def test_minmax_signed_by_hand():
    df = pd.DataFrame({"S1": [0.0, 5.0, 10.0], "S2": [2.0, 4.0, 6.0]})
    out = minmax_signed(df, ("S1", "S2"))
    np.testing.assert_allclose(out.S1, [-1, 0, 1])
    np.testing.assert_allclose(out.S2, [1, 0, -1])  # smaller is better: negated
    const = minmax_signed(pd.DataFrame({"S1": [3.0, 3.0]}), ("S1",))
    np.testing.assert_allclose(const.S1, [0, 0])
    inf = minmax_signed(pd.DataFrame({"S3": [1.0, 3.0, np.inf]}), ("S3",))
    np.testing.assert_allclose(inf.S3, [-1, 1, 1])


def test_constructed_table_has_known_best_alpha():
    # Raw S5 = [1, .5, 0] -> scaled, negated [-1, 0, 1]; raw S6 = [0, 1, .5] -> [1, -1, 0].
    # C(a) = [-1+2a, -a, 1-a]; accuracy orders models m1 < m0 < m2, which C(a) matches exactly
    # for 1/3 < a < 2/3. The first grid point there is 0.334.
    df = pd.DataFrame({"arch": "x", "source": ["m0", "m1", "m2"], "target": "t",
                       "S1": [1.0, 2, 3], "S2": [1.0, 2, 3], "S3": [1.0, 2, 3], "S4": [1.0, 2, 3],
                       "S5": [1.0, 0.5, 0.0], "S6": [0.0, 1.0, 0.5], "accuracy": [0.5, 0.4, 0.6]})
    sweep = alpha_sweep(df, 0.001)
    assert len(sweep) == 15 * 1001
    best = best_alphas(sweep).set_index("pair")
    assert best.loc["C_56", "best_alpha"] == pytest.approx(0.334)
    assert best.loc["C_56", "mean_rho"] == pytest.approx(1.0)
    c56 = sweep[sweep.pair == "C_56"].set_index("alpha")["mean"]
    assert c56.loc[0.333] == pytest.approx(0.5)
    assert c56.loc[0.666] == pytest.approx(1.0)
    assert c56.loc[0.667] < 1.0


def test_sweep_matches_direct_scipy_loop():
    df = random_table(1)
    sweep = alpha_sweep(df, 0.05)
    norm = minmax_signed(df)
    for pair, alpha in [("C_12", 0.0), ("C_36", 0.35), ("C_56", 1.0)]:
        i, j = f"S{pair[2]}", f"S{pair[3]}"
        c = (1 - alpha) * norm[i] + alpha * norm[j]
        rhos = [stats.spearmanr(c[rows.index], rows.accuracy).statistic for _, rows in df.groupby(["arch", "target"])]
        row = sweep[(sweep.pair == pair) & np.isclose(sweep.alpha, alpha)]
        assert row["mean"].iloc[0] == pytest.approx(np.mean(rhos))


def test_leave_one_group_out_matches_direct_loop():
    df = random_table(2, archs=("a", "b", "c"))
    sweep = alpha_sweep(df, 0.01)
    frame = sweep[sweep.pair == "C_56"].reset_index(drop=True)
    groups = [c for c in frame.columns if c not in ("pair", "alpha", "mean")]
    held = []
    for g in groups:
        others = [h for h in groups if h != g]
        k = int(np.argmax(frame[others].mean(axis=1).to_numpy()))
        held.append(frame.loc[k, g])
    assert leave_one_group_out(frame, groups)["rho"] == pytest.approx(np.mean(held))


def test_correlations_measures():
    df = random_table(3)
    corr = correlations(df, n_boot=200)
    assert len(corr) == 4 * len(METRICS)
    row = corr[(corr.arch == "a") & (corr.target == "t1") & (corr.metric == "S2")].iloc[0]
    g = df[(df.arch == "a") & (df.target == "t1")]
    assert row.rho == pytest.approx(stats.spearmanr(g.S2, g.accuracy).statistic)
    assert row.kendall_tau == pytest.approx(stats.kendalltau(g.S2, g.accuracy).statistic)
    assert row.pearson_r == pytest.approx(stats.pearsonr(g.S2, g.accuracy).statistic)
    first = g.S2.idxmin()  # smaller is better for S2
    assert row.regret == pytest.approx(g.accuracy.max() - g.accuracy[first])
    assert row.rho_lo <= row.rho_hi


def test_bad_tables():
    df = random_table(4)
    with pytest.raises(BaseselError, match="lacks column.*S6"):
        check_table(df.drop(columns="S6"))
    with pytest.raises(BaseselError, match=r"model 's0' appears more than once in group a/t1 \(lines 2, 26\)"):
        check_table(pd.concat([df, df.iloc[:1]]))
    with pytest.raises(BaseselError, match="no group has 3 or more models"):
        check_table(df[df.source.isin(["s0", "s1"])])
    # a group of two is left out and named; the others stay
    checked = check_table(df[~((df.arch == "a") & (df.target == "t1") & ~df.source.isin(["s0", "s1"]))])
    assert checked.skipped_groups == {"a/t1": ["s0", "s1"]} and len(checked.df) == 3 * 6


def test_analyze_and_its_cli_write_the_same_tables(tmp_path):
    from helpers import TINY, planned_jobs

    df = random_table(5)
    results = analyze(df, alpha_step=0.01, n_boot=50)
    # the analysis rule's outputs are exactly the files analyze returns
    plan = planned_jobs(tmp_path, TINY, "results/analysis/summary.json")
    ruled = {Path(p).name for p in plan.outputs if p.startswith("results/analysis/")} - {"table.tsv", "costs.tsv"}
    assert ruled == set(results)
    # each table is what its own function gives on the same table
    pd.testing.assert_frame_equal(results["correlations.tsv"], correlations(df, n_boot=50))
    pd.testing.assert_frame_equal(results["alpha_sweep.tsv"], alpha_sweep(df, 0.01))
    best = best_alphas(alpha_sweep(df, 0.01)).set_index("pair")
    summary = results["summary.json"]
    assert summary["c56"]["best_alpha"] == best.loc["C_56", "best_alpha"]
    assert summary["c56"]["leave_one_group_out_rho"] == pytest.approx(best.loc["C_56", "logo_rho"])
    assert summary["n_rows"] == len(df) and summary["n_groups"] == 4
    df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    out = subprocess.run([sys.executable, "-m", "basesel.cli", "analyze", str(tmp_path / "t.tsv"), str(tmp_path / "cli"),
                          "--alpha-step", "0.01", "--bootstrap", "50"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"best alpha {summary['c56']['best_alpha']}" in out.stdout
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == sorted([*results, "win_rates.tsv"])
    for name in ("correlations.tsv", "alpha_sweep.tsv", "best_alpha.tsv", "leaderboard.tsv"):
        written = pd.read_csv(tmp_path / "cli" / name, sep="\t")
        if name == "leaderboard.tsv":  # the command adds each score's share of groups won
            written = written.drop(columns="wins")
        expected = results[name]
        pd.testing.assert_frame_equal(written, expected.astype(written.dtypes.to_dict()), check_exact=False, rtol=1e-5)
    c56 = pd.read_csv(tmp_path / "cli" / "c56_summary.tsv", sep="\t").set_index("quantity")
    assert float(c56.loc["best alpha", "basesel"]) == summary["c56"]["best_alpha"]
    assert float(c56.loc["best alpha", "paper"]) == 0.574
    missing = subprocess.run([sys.executable, "-m", "basesel.cli", "analyze", str(tmp_path / "nope.tsv"), str(tmp_path)],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.tsv" in missing.stderr


def test_leaderboard_orders_scores_and_keeps_undefined_ones_last():
    from basesel.science.analysis import leaderboard

    df = random_table(6, n=8)
    df["LogME"] = df.accuracy + np.random.default_rng(0).normal(0, 0.01, len(df))  # near-perfect
    df["source_train_images"] = 100.0  # constant: no correlation defined anywhere
    board = leaderboard(df, [*METRICS, "LogME", "source_train_images"], n_boot=100)
    assert board.score.iloc[0] == "LogME" and board.rank_by_rho[board.score == "LogME"].item() == 1
    assert board.score.iloc[-1] == "source_train_images"
    assert np.isnan(board.mean_rho.iloc[-1]) and board.rank_by_rho.iloc[-1] == len(board)
    row = board.set_index("score").loc["LogME"]
    assert row.wtau_lo <= row.mean_weighted_tau <= row.wtau_hi
    assert set(board.kind) == {"paper", "baseline", "task-agnostic"}


def test_every_measure_matches_scipy_and_has_an_interval():
    df = random_table(7, n=9)
    df.loc[df.index[:3], "S1"] = 0.5  # ties
    corr = correlations(df, n_boot=300)
    for (arch, target), g in df.groupby(["arch", "target"]):
        for m in ("S1", "S4"):
            row = corr[(corr.arch == arch) & (corr.target == target) & (corr.metric == m)].iloc[0]
            sign = 1 if m == "S1" else -1
            assert row.kendall_tau == pytest.approx(stats.kendalltau(g[m], g.accuracy).statistic)
            assert row.weighted_tau == pytest.approx(stats.weightedtau(sign * g[m], g.accuracy).statistic)
            first = (sign * g[m]).idxmax()
            assert row.top1_relative_accuracy == pytest.approx(g.accuracy[first] / g.accuracy.max())
            for name in ("rho", "kendall_tau", "weighted_tau", "pearson_r", "top1_relative_accuracy", "regret"):
                assert row[f"{name}_lo"] <= row[f"{name}_hi"]


def test_bootstrap_intervals_are_percentiles_of_resampled_spearman():
    """The rho interval of each group, against a direct loop: the same resamples of source models
    (each (group, score) its own generator, seeded by the seed and their names), scipy's Spearman on
    each, the 2.5 and 97.5 percentiles; a score added beside S1 leaves S1's interval as it was."""
    import zlib

    df = random_table(8, n=7)
    corr = correlations(df, metrics=("S1",), n_boot=200, seed=3)
    both = correlations(df, metrics=("S3", "S1"), n_boot=200, seed=3)
    pd.testing.assert_frame_equal(both[both.metric == "S1"].reset_index(drop=True), corr)
    for (arch, target), g in df.groupby(["arch", "target"], sort=True):
        rng = np.random.default_rng([3, *(zlib.crc32(k.encode()) for k in ("correlations", f"{arch}/{target}", "S1"))])
        idx = rng.integers(0, len(g), size=(200, len(g)))
        x, y = g.S1.to_numpy(), g.accuracy.to_numpy()
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rhos = [stats.spearmanr(x[i], y[i]).statistic for i in idx]
        lo, hi = np.nanpercentile(rhos, [2.5, 97.5])
        row = corr[(corr.arch == arch) & (corr.target == target)].iloc[0]
        assert (row.rho_lo, row.rho_hi) == pytest.approx((lo, hi), abs=1e-12)
        assert row.rho == pytest.approx(stats.spearmanr(x, y).statistic)


def test_written_tables_mark_pairs_that_do_not_apply_and_keep_every_number(tmp_path):
    """S5 and S6 not applicable to one model of group b/t1: that group's cells of every pair with S5
    or S6 read "not applicable" in the written sweep, the other cells are analyze's numbers; once
    they apply in no group, the pair's best-alpha row and the C_56 summary say so too."""
    from basesel.io import write_tables
    from basesel.science.analysis import EXACT, as_written
    from basesel.science.featuremap_scores import NOT_APPLICABLE

    def written(df, name):
        results = analyze(df, alpha_step=0.05, n_boot=20)
        write_tables(as_written(results), tmp_path / name, exact=EXACT)
        return results, {f: pd.read_csv(tmp_path / name / f, sep="\t", keep_default_na=False)
                         for f in ("alpha_sweep.tsv", "best_alpha.tsv", "c56_summary.tsv")}

    plain = random_table(3)
    results, files = written(plain, "plain")  # nothing marked: the files are analyze's tables
    assert as_written(results) is results
    one = plain.astype({"S5": object, "S6": object})
    one.loc[(one.arch == "b") & (one.target == "t1") & (one.source == "s0"), ["S5", "S6"]] = NOT_APPLICABLE
    results, files = written(one, "one")
    sweep = files["alpha_sweep.tsv"]
    with_s56 = sweep.pair.isin(["C_15", "C_16", "C_25", "C_26", "C_35", "C_36", "C_45", "C_46", "C_56"])
    assert (sweep.loc[with_s56, "b/t1"] == NOT_APPLICABLE).all()
    assert not (sweep.loc[~with_s56, "b/t1"] == NOT_APPLICABLE).any()
    assert not (sweep[["a/t1", "a/t2", "b/t2", "mean"]] == NOT_APPLICABLE).any().any()
    numbers = results["alpha_sweep.tsv"]
    for col in ("a/t1", "mean"):
        assert np.allclose(sweep[col].astype(float), numbers[col], rtol=1e-5)
    assert np.allclose(sweep.loc[~with_s56, "b/t1"].astype(float), numbers.loc[~with_s56, "b/t1"], rtol=1e-5)
    assert "" not in set(files["best_alpha.tsv"].best_alpha.astype(str))

    nowhere = plain.astype({"S5": object, "S6": object})
    nowhere.loc[nowhere.source == "s0", ["S5", "S6"]] = NOT_APPLICABLE  # in every group
    results, files = written(nowhere, "nowhere")
    best = files["best_alpha.tsv"].set_index("pair")
    assert (best.loc["C_56"] == NOT_APPLICABLE).all() and (best.loc["C_15"] == NOT_APPLICABLE).all()
    assert float(best.loc["C_12", "best_alpha"]) == results["best_alpha.tsv"].set_index("pair").loc["C_12", "best_alpha"]
    assert (files["c56_summary.tsv"].basesel == NOT_APPLICABLE).all()
    assert (files["alpha_sweep.tsv"].query("pair == 'C_56'")["mean"] == NOT_APPLICABLE).all()
    assert not (files["alpha_sweep.tsv"] == "").any().any()  # no empty cell where a score does not apply


def test_weighted_tau_rows_is_scipys_row_by_row():
    """The vectorised weighted tau of the bootstrap equals scipy.stats.weightedtau per row, on
    bootstrap resamples (repeated models: ties in both series), ties in one series alone, +inf
    (S3) and constant rows (NaN)."""
    from scipy import stats as sps

    from basesel.science import stats

    rng = np.random.default_rng(4)
    score, acc = rng.normal(size=11), rng.uniform(0.2, 0.9, size=11)
    score[3] = score[7]  # a tie in the score alone
    acc[1] = acc[5]  # and one in accuracy alone
    idx = stats.resamples(rng, 11, 300)
    x, y = score[idx], acc[idx]
    x[0] = 1.0  # a constant row: NaN
    x[1, :3] = np.inf
    got = stats.weighted_tau_rows(x, y)
    want = np.array([stats.weighted_tau(a, b) for a, b in zip(x, y)])
    assert np.isnan(got[0]) and np.isnan(want[0])
    np.testing.assert_allclose(got[1:], want[1:], rtol=0, atol=1e-14)
    assert want[2] == pytest.approx(sps.weightedtau(x[2], y[2]).statistic)
    assert len(np.unique(np.round(got[1:], 6))) > 100  # the rows differ: the test compares values, not one number
