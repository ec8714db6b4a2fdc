"""The base model each score picks (picks.tsv) on a table built by hand, and the report's front page
answer against the tables it is written from."""
import re

import numpy as np
import pandas as pd
import pytest
from docutils.core import publish_parts

from basesel.science.analysis import NOT_APPLICABLE, analyze, check_table, picks
from basesel.science.answer import front_page, rst_text
from helpers import random_table


def hand_table():
    """Two groups of four models. S1 (larger is better) picks m3 in t1 (accuracy 0.6, best 0.9: regret
    0.3) and ties m0 and m1 in t2 (the tie goes to the lower accuracy, m1 at 0.2: regret 0.7). S2
    (smaller is better) picks m0 in t1 (the best, regret 0); in t2 its value for the best model
    (m0) is empty, so it picks among the other three: m2 (0.5, regret 0.4). S5 does not apply to
    m1 in t2: no pick there."""
    rows = [  # target, source, S1, S2, S5, accuracy
        ("t1", "m0", 0.0, 1.0, 1.0, 0.9), ("t1", "m1", 1.0, 2.0, 2.0, 0.3),
        ("t1", "m2", 2.0, 3.0, 3.0, 0.1), ("t1", "m3", 3.0, 4.0, 4.0, 0.6),
        ("t2", "m0", 5.0, "", 1.0, 0.9), ("t2", "m1", 5.0, 2.0, NOT_APPLICABLE, 0.2),
        ("t2", "m2", 1.0, 0.5, 3.0, 0.5), ("t2", "m3", 0.0, 4.0, 4.0, 0.3),
    ]
    return pd.DataFrame([{"arch": "a", "source": s, "target": t, "S1": s1, "S2": s2, "S5": s5, "accuracy": acc}
                         for t, s, s1, s2, s5, acc in rows])


def test_picks_by_hand():
    checked = check_table(hand_table(), ["S1", "S2", "S5"])
    got = picks(checked.df, ["S1", "S2", "S5"], missing=checked.missing).set_index(["group", "score"])
    expected = {("a/t1", "S1"): ("m3", 0.6, 0.3), ("a/t2", "S1"): ("m1", 0.2, 0.7),
                ("a/t1", "S2"): ("m0", 0.9, 0.0), ("a/t2", "S2"): ("m2", 0.5, 0.4),
                ("a/t1", "S5"): ("m0", 0.9, 0.0)}
    for key, (model, acc, regret) in expected.items():
        row = got.loc[key]
        assert (row.picked, row.best_truth) == (model, 0.9)
        assert row.picked_truth == pytest.approx(acc) and row.regret == pytest.approx(regret)
    na = got.loc[("a/t2", "S5")]
    assert na.picked == "" and np.isnan(na.regret) and na.best == "m0"
    assert got.xs("a/t1", level="group").mean_truth.iloc[0] == pytest.approx((0.9 + 0.3 + 0.1 + 0.6) / 4)


def test_picks_of_analyze_are_each_scores_argmax():
    """A second method: for every score of a random table, the pick is the row of its group with the
    largest oriented value (sorting the group's rows), and analyze writes one row per (group, ranked score)."""
    df = random_table(3)
    results = analyze(df, alpha_step=0.05, n_boot=20)
    got, board = results["picks.tsv"], results["leaderboard.tsv"]
    assert len(got) == 4 * len(board) and set(got.score) == set(board.score)
    for (arch, target), group in df.groupby(["arch", "target"]):
        for score in ("S1", "S2", "S3", "S4", "S5", "S6"):
            ascending = score in ("S2", "S4", "S5", "S6")  # smaller is better
            first = group.sort_values(score, ascending=ascending).iloc[0]
            row = got[(got.group == f"{arch}/{target}") & (got.score == score)].iloc[0]
            assert row.picked == first.source
            assert row.regret == pytest.approx(group.accuracy.max() - first.accuracy)


def html_of(text: str) -> str:
    """The answer as the report's front page renders it: docutils, failing on any warning."""
    return publish_parts("T\n=\n\n" + text, writer_name="html", settings_overrides={"halt_level": 2})["html_body"]


def test_front_page_says_what_the_tables_say():
    results = analyze(random_table(7, n=8), alpha_step=0.05, n_boot=100)
    board, chosen, summary = results["leaderboard.tsv"], results["picks.tsv"], results["summary.json"]
    text = front_page(board, chosen, summary)
    top, second = board.iloc[0], board.iloc[1]
    assert text.startswith("The answer\n")
    assert f"**{top.score}** ranked this run's base models best: mean weighted Kendall tau " \
           f"{top.mean_weighted_tau:.3f} [{top.wtau_lo:.3f}, {top.wtau_hi:.3f}]" in text
    assert f"runner-up is **{second.score}**, {second.mean_weighted_tau:.3f}" in text
    for score in ("S1", "S6", "C_56(0.574)"):
        assert f"{score} {int(board.set_index('score').loc[score, 'rank_by_weighted_tau'])}" in text
    html = html_of(text)
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)[1:]
    cells = [re.findall(r"<td>(?:<p>)?(.*?)(?:</p>)?</td>", r, re.S) for r in rows]
    mine = chosen[chosen.score == top.score]
    assert [c[:2] + [c[3]] for c in cells] == [[g, p, b] for g, p, b in zip(mine.group, mine.picked, mine.best)]
    assert [float(c[5]) for c in cells] == pytest.approx(mine.regret.round(4).tolist())


def test_front_page_shows_names_as_written():
    """Names come from a user's table: markup in them is shown, never interpreted."""
    df = random_table(1, n=4)
    df["source"] = df.source.map({"s0": "*bold*", "s1": "`x`_", "s2": "a\n.. raw:: html\n\n<b>", "s3": "_under_"})
    results = analyze(df, alpha_step=0.05, n_boot=20)
    html = html_of(front_page(results["leaderboard.tsv"], results["picks.tsv"], results["summary.json"]))
    assert "<strong>bold" not in html and "<em>" not in html and "<b>" not in html
    assert "*bold*" in html and "`x`_" in html and "&lt;b&gt;" in html
    assert html_of(rst_text("a*b`c|d_ [e]")).count("a*b`c|d_ [e]") == 1


def test_front_page_when_nothing_ranks():
    df = random_table(2, n=4).assign(accuracy=0.5)  # every model equal: no correlation is defined
    results = analyze(df, alpha_step=0.05, n_boot=20)
    text = front_page(results["leaderboard.tsv"], results["picks.tsv"], results["summary.json"])
    assert "No score's ranking is defined" in text
    html_of(text)
