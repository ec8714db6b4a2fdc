"""The answer a run gives, in reStructuredText for the front page of the report: which score ranked
this run's base models best and how sure that is, where the paper's scores stand, and per
(architecture, target) the base model the winning score would pick beside fine-tuning's best.

Every number comes from the analysis tables (leaderboard.tsv, picks.tsv, summary.json), as the
analysis rule wrote them; nothing is computed again here.
"""
from __future__ import annotations

import math
import re

import pandas as pd

from .featuremap_scores import C56, METRICS

PAPER_SCORES = (*METRICS, *C56)


def rst_text(value) -> str:
    """`value` as plain reStructuredText inline text: every markup character escaped, so that a
    model or target name read from a user's table is shown as written and never read as markup."""
    text = " ".join(str(value).split())  # no line break can start a directive
    return re.sub(r"([^\w .,/()-])", r"\\\1", text) if text else "\\ "


def _num(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "undefined"
    return f"{round(float(x), digits) + 0.0:.{digits}f}"  # + 0.0: never "-0.000"


def _interval(row) -> str:
    return f"{_num(row.mean_weighted_tau)} [{_num(row.wtau_lo)}, {_num(row.wtau_hi)}]"


def front_page(board: pd.DataFrame, chosen: pd.DataFrame, summary: dict, truth: str = "accuracy") -> str:
    """The answer section: `board` the leaderboard, `chosen` picks.tsv, `summary` summary.json."""
    n_groups, ranked = summary["n_groups"], len(board)
    lines = ["The answer", "----------", ""]
    top = board.iloc[0] if ranked else None
    if top is None or math.isnan(top.mean_weighted_tau):
        lines += ["No score's ranking is defined in this run: in every group either the scores or the fine-tuned "
                  "accuracies are all equal, so no score can be said to rank the base models. See section 4.", ""]
        return "\n".join(lines)
    lines.append(f"**{rst_text(top.score)}** ranked this run's base models best: mean weighted Kendall tau "
                 f"{_interval(top)} over {int(top.groups_defined)} of {n_groups} (architecture, target) group(s) "
                 "(95% bootstrap interval; 1 is a perfect ranking, 0 no better than chance).")
    if ranked > 1:
        second = board.iloc[1]
        overlap = not (second.wtau_hi < top.wtau_lo)
        lines += ["", f"The runner-up is **{rst_text(second.score)}**, {_interval(second)}. "
                  + ("The two intervals overlap: this run cannot tell the two scores apart; more base models or "
                     "targets (or replicates) would." if overlap else
                     "The runner-up's interval lies below the winner's: the winner is ahead beyond the run's noise.")]
    paper = board[board.score.isin(PAPER_SCORES)].set_index("score")
    if len(paper):
        places = ", ".join(f"{rst_text(s)} {int(paper.loc[s, 'rank_by_weighted_tau'])}" for s in PAPER_SCORES
                           if s in paper.index)
        best = paper.mean_weighted_tau.idxmax() if paper.mean_weighted_tau.notna().any() else None
        lines += ["", f"The paper's scores, by their place among the {ranked} scores ranked: {places}."
                  + (f" The best of them, {rst_text(best)}, has {_interval(paper.loc[best].rename(best))}."
                     if best is not None and best != top.score else "")]
    mine = chosen[chosen.score == top.score]
    if len(mine):
        lines += ["", f"The base model to fine-tune for each group, as **{rst_text(top.score)}** would pick it, beside "
                  f"the best that fine-tuning found ({truth}; the regret is what the pick loses against the best, "
                  "and a random pick would lose the group's best less its mean):", "",
                  ".. list-table::", "   :header-rows: 1", "",
                  "   * - group", f"     - {rst_text(top.score)} picks", f"     - its {rst_text(truth)}",
                  "     - fine-tuning's best", f"     - its {rst_text(truth)}", "     - regret",
                  "     - a random pick's regret"]
        for r in mine.itertuples():
            picked = rst_text(r.picked) if isinstance(r.picked, str) and r.picked else "(not ranked here)"
            lines += [f"   * - {rst_text(r.group)}", f"     - {picked}", f"     - {_num(r.picked_truth, 4)}",
                      f"     - {rst_text(r.best)}", f"     - {_num(r.best_truth, 4)}", f"     - {_num(r.regret, 4)}",
                      f"     - {_num(r.best_truth - r.mean_truth, 4)}"]
        # A group whose base models all fine-tuned to the same accuracy tests no score: every pick is the best.
        differ = mine[mine.regret.notna() & (mine.best_truth > mine.mean_truth)]
        flat = int((mine.regret.notna() & (mine.best_truth <= mine.mean_truth)).sum())
        if len(differ):
            lines += ["", f"In the {len(differ)} group(s) it ranks where fine-tuning's accuracies differ, its pick loses "
                      f"{_num(differ.regret.mean(), 4)} on average (a random pick: "
                      f"{_num((differ.best_truth - differ.mean_truth).mean(), 4)}); it picks fine-tuning's best in "
                      f"{int((differ.regret == 0).sum())} of them."]
        if flat:
            lines += ["", f"In {flat} group(s) every base model fine-tuned to the same {rst_text(truth)}: any pick "
                      "is the best there, and those groups say nothing about any score."]
    lines += ["", "Every score's place is in the leaderboard (5. Correlations), every score's pick per group in "
              "picks.tsv (7. Summary). What follows says how the run was made and how to read each section.", ""]
    return "\n".join(lines)
