"""Conclusions that survive a new seed: every score's ranking quality in every replicate, and its
spread over replicates (config `replicates`; docs/metrics.md, "Replicates").

A replicate redraws every training seed and the probe sets and keeps the data, so the spread over
replicates is the spread of training noise and of the 10-image probe draw, which the bootstrap
intervals over base models do not see. Per replicate and score: the mean over (arch, target) groups
of the weighted Kendall tau and of Spearman's rho with fine-tuned accuracy (no bootstrap; a group
where the score does not apply to some model is left out), and C_56's best alpha. Across
replicates: their mean, standard deviation (ddof 1) and range. Win rates over all (replicate,
group) cases, in the spirit of Agostinelli et al. (ECCV 2022), who showed that metric rankings are
stable only when aggregated over many setups: the share of cases in which a score has the highest
weighted tau (ties share the win), and for each pair of scores the share of the cases where both
apply in which one beats the other (a tie counts half). Then the conclusions that hold in every
replicate.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .analysis import (alpha_sweep, best_alphas, check_table, group_measures, score_columns, with_c56,
                       with_c56_missing, with_pooled)
from .featuremap_scores import C56


def per_group(table: pd.DataFrame, alpha_step: float) -> tuple[pd.DataFrame, float]:
    """(a row per (group, score): weighted tau and rho, NaN where the score does not apply to a
    model of the group; C_56's best alpha) of one replicate's table."""
    table = with_pooled(table)
    metrics = score_columns(table)
    checked = check_table(table, metrics)
    df, missing = checked.df, checked.missing
    sweep = alpha_sweep(df, alpha_step, metrics, missing=missing)
    best = best_alphas(sweep).set_index("pair").loc["C_56", "best_alpha"]
    scored = with_c56(df, sweep)
    return group_measures(scored, [*metrics, *C56], missing=with_c56_missing(missing)), float(best)


def across(tables: list[pd.DataFrame], alpha_step: float) -> dict:
    """Every across-replicate table of a list of replicate tables (replicate k = tables[k]):
    {"replicates.tsv": per score, "win_rates.tsv": pairwise, "replicates.json": best alphas, win
    shares and the conclusions that hold in every replicate}."""
    cases, alphas = [], []
    for k, table in enumerate(tables):
        rows, alpha = per_group(table, alpha_step)
        cases.append(rows.assign(replicate=k))
        alphas.append(alpha)
    cases = pd.concat(cases, ignore_index=True)
    means = cases.groupby(["replicate", "score"], sort=False)[["weighted_tau", "rho"]].mean()
    order = list(dict.fromkeys(cases.score))
    summary = _summary(means, order, len(tables))
    nowhere = summary.score[summary.mean_weighted_tau.isna()].tolist()  # applies in no case (zoo S5, S6)
    summary = summary[~summary.score.isin(nowhere)]
    cases = cases[~cases.score.isin(nowhere)]
    wins, pairwise = win_rates(cases)
    summary["wins"] = summary.score.map(wins).fillna(0.0)
    summary = summary.sort_values("mean_weighted_tau", ascending=False, kind="stable").reset_index(drop=True)
    doc = {"replicates": len(tables), "c56_best_alpha": [a if np.isfinite(a) else None for a in alphas],
           "conclusions": conclusions(means, summary, len(tables))}
    if nowhere:
        doc["not_applicable"] = nowhere
    return {"replicates.tsv": summary, "win_rates.tsv": pairwise, "replicates.json": doc}


def _summary(means: pd.DataFrame, order: list, n: int) -> pd.DataFrame:
    rows = []
    for score in order:
        row = {"score": score}
        for measure in ("weighted_tau", "rho"):
            values = np.array([means.loc[(k, score), measure] for k in range(n)], dtype=np.float64)
            for k, v in enumerate(values):
                row[f"{measure}_r{k}"] = v
            finite = values[np.isfinite(values)]
            row.update({f"mean_{measure}": finite.mean() if len(finite) else np.nan,
                        f"sd_{measure}": finite.std(ddof=1) if len(finite) > 1 else np.nan,
                        f"min_{measure}": finite.min() if len(finite) else np.nan,
                        f"max_{measure}": finite.max() if len(finite) else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def win_rates(cases: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """({score: share of the (replicate, group) cases it has the highest weighted tau in}, and a row
    per ordered pair (a, b): the share of the cases where both apply in which a beats b, ties half)."""
    wide = cases.pivot_table(index=["replicate", "group"], columns="score", values="weighted_tau", dropna=False)
    wide = wide[list(dict.fromkeys(cases.score))]
    wins = dict.fromkeys(wide.columns, 0.0)
    n_cases = len(wide)
    for _, row in wide.iterrows():
        best = np.nanmax(row.to_numpy(np.float64)) if row.notna().any() else np.nan
        if not np.isfinite(best):
            continue
        top = [s for s, v in row.items() if v == best]
        for s in top:
            wins[s] += 1.0 / len(top) / n_cases
    pairs = []
    for a, b in itertools.permutations(wide.columns, 2):
        x, y = wide[a].to_numpy(np.float64), wide[b].to_numpy(np.float64)
        both = np.isfinite(x) & np.isfinite(y)
        if not both.any():
            continue
        share = float(((x[both] > y[both]) + 0.5 * (x[both] == y[both])).mean())
        pairs.append({"score": a, "other": b, "beats": share, "cases": int(both.sum())})
    return wins, pd.DataFrame(pairs, columns=["score", "other", "beats", "cases"])


def conclusions(means: pd.DataFrame, summary: pd.DataFrame, n: int) -> list[str]:
    """Statements about mean weighted tau that hold in every replicate: who ranks first, the best of
    the paper's scores, each adjacent pair of the mean ranking whose order never flips, and each
    score whose sign never changes."""
    from .analysis import score_kind

    out = []
    per_rep = [means.loc[k]["weighted_tau"].dropna().sort_values(ascending=False) for k in range(n)]
    firsts = {r.index[0] for r in per_rep if len(r)}
    if len(firsts) == 1:
        out.append(f"{firsts.pop()} ranks first by mean weighted tau in every replicate")
    paper = [r[[s for s in r.index if score_kind(s) == "paper"]] for r in per_rep]
    best_paper = {p.index[0] for p in paper if len(p)}
    if len(best_paper) == 1:
        out.append(f"{best_paper.pop()} is the best of the paper's scores in every replicate")
    ranked = summary.score.tolist()
    for a, b in zip(ranked, ranked[1:]):
        if all(a in r.index and b in r.index and r[a] > r[b] for r in per_rep):
            out.append(f"{a} beats {b} in every replicate")
    for s in ranked:
        values = [r[s] for r in per_rep if s in r.index]
        if len(values) == n and all(v > 0 for v in values):
            out.append(f"{s} ranks base models better than chance (weighted tau > 0) in every replicate")
        elif len(values) == n and all(v < 0 for v in values):
            out.append(f"{s} ranks base models worse than chance (weighted tau < 0) in every replicate")
    return out
