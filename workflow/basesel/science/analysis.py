"""How well each score ranks base models: per-group correlations, the alpha sweep, C_56.

Input is one table with a row per (arch, source, target): the scores and the fine-tuned accuracy.
A *group* is one (arch, target) pair; correlations are taken across its source models. The
conventions (normalisation, sign flips, the grid, tie handling, first argmax) are those of
docs/metrics.md, section "Combining two metrics"; the statistics themselves live in stats.py.
Everything here returns tables; `analyze` gives them all, named by the file each is written to
(the analysis rule lists the same names as its outputs), and io.write_tables writes them.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from .. import BaseselError
from . import stats
from .featuremap_scores import C56, DIRECTION, METRICS, NOT_APPLICABLE, as_numbers

# The paper's section 5.3 numbers for the best C_56, shown beside ours.
PAPER_C56 = {"alpha": 0.574, "mean": 0.7514, "variance": 0.005993, "max": 0.8874, "min": 0.5854,
             "max_group": "alexnet/caltech101", "min_group": "resnet18/pets"}
KEY_COLUMNS = ("arch", "source", "target", "accuracy")


def check_table(df: pd.DataFrame, metrics=METRICS) -> pd.DataFrame:
    """The table checked, its scores as floats: a score marked NOT_APPLICABLE (S5 and S6 of a model
    without zeros, a zoo model's task-agnostic baselines) becomes NaN, which every measure below
    leaves out of the group it falls in; any other missing or non-numeric value is an error."""
    missing = [c for c in (*KEY_COLUMNS, *metrics) if c not in df.columns]
    if missing:
        raise BaseselError(f"table lacks column(s) {', '.join(missing)}; expected {', '.join((*KEY_COLUMNS, *metrics))}")
    if df.duplicated(["arch", "source", "target"]).any():
        raise BaseselError("table has duplicate (arch, source, target) rows")
    columns = [*metrics, "accuracy"]
    na = df[columns].isin([NOT_APPLICABLE])
    values = as_numbers(df[columns])
    bad = values.isna() & ~na
    bad["accuracy"] |= na["accuracy"]
    if bad.any().any():
        cols = [c for c in bad.columns if bad[c].any()]
        raise BaseselError(f"table has missing or non-numeric values in {', '.join(cols)}")
    df = df.copy()
    df[columns] = values
    small = df.groupby(["arch", "target"]).size()
    small = small[small < 3]
    if len(small):
        raise BaseselError(f"a rank correlation needs at least 3 source models per (arch, target); too few in {', '.join('/'.join(i) for i in small.index)}")
    return df.reset_index(drop=True)


def minmax_signed(df: pd.DataFrame, metrics=METRICS) -> pd.DataFrame:
    """Each metric scaled over all rows to [-1, 1], negated where smaller is better.

    +inf (S3 with zero intra-class scatter) is placed at the top of the scale, -inf at the bottom;
    the finite values set the range.
    """
    out = pd.DataFrame(index=df.index)
    for m in metrics:
        x = df[m].to_numpy(dtype=np.float64)
        finite = np.isfinite(x)
        lo, hi = (x[finite].min(), x[finite].max()) if finite.any() else (0.0, 0.0)
        scaled = np.zeros_like(x) if hi == lo else 2 * (x - lo) / (hi - lo) - 1
        scaled[np.isnan(x)] = np.nan  # not applicable stays so
        scaled = np.where(x == np.inf, 1.0, np.where(x == -np.inf, -1.0, scaled))
        out[m] = DIRECTION.get(m, 1) * scaled
    return out


def groups(df: pd.DataFrame):
    """(name, row positions) per (arch, target), in a stable order."""
    for (arch, target), rows in df.groupby(["arch", "target"], sort=True):
        yield f"{arch}/{target}", rows.index.to_numpy()


# Weighted tau's intervals use the first 200 of the bootstrap resamples: a bound on scipy's per-call
# cost when it was set; stats.weighted_tau_rows now takes them all at once, and the bound stays so
# that the intervals stay those of earlier runs (more resamples would change results, not only time).
WTAU_RESAMPLES = 200


def _measures(x: np.ndarray, y: np.ndarray, direction: int) -> dict[str, np.ndarray]:
    """Ranking measures of score rows x (B, n) against accuracy rows y (B, n)."""
    first = np.argmax(direction * stats.finite(x), axis=1)
    picked = y[np.arange(len(y)), first]
    best = y.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        top1 = np.where(best > 0, picked / best, np.nan)
    return {"rho": stats.spearman_pairs(x, y), "kendall_tau": stats.kendall_rows(x, y), "pearson_r": stats.pearson_rows(x, y),
            "top1_relative_accuracy": top1, "regret": best - picked}


def ranking_quality(score: np.ndarray, acc: np.ndarray, direction: int, n_boot: int, rng) -> dict:
    """The spec's ranking measures for one score in one group, each with a 95% bootstrap interval
    over source models. `direction` orients the score for weighted tau and for 'ranked first'."""
    point = {k: float(v[0]) for k, v in _measures(score[None, :], acc[None, :], direction).items()}
    point["weighted_tau"] = stats.weighted_tau(direction * score, acc)
    idx = stats.resamples(rng, len(acc), n_boot)
    boot = _measures(score[idx], acc[idx], direction)
    boot["weighted_tau"] = stats.weighted_tau_rows(direction * score[idx[:WTAU_RESAMPLES]], acc[idx[:WTAU_RESAMPLES]])
    out = {}
    for name in ("rho", "kendall_tau", "weighted_tau", "pearson_r", "top1_relative_accuracy", "regret"):
        lo, hi = stats.interval(boot[name])
        out.update({name: point[name], f"{name}_lo": lo, f"{name}_hi": hi})
    return out


def correlations(df: pd.DataFrame, metrics=METRICS, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per (arch, target, metric): Spearman rho of the raw metric with accuracy (the paper's
    Figure 2), its bootstrap 95% interval over source models, and the other ranking measures. A
    metric not applicable to a model of the group (not_applicable) has no row for the group."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, pos in groups(df):
        acc = df.accuracy.to_numpy(np.float64)[pos]
        arch, target = name.split("/", 1)
        for m in metrics:
            score = df[m].to_numpy(np.float64)[pos]
            if np.isnan(score).any():
                continue
            q = ranking_quality(score, acc, DIRECTION.get(m, 1), n_boot, rng)
            rows.append({"arch": arch, "target": target, "metric": m, "n_models": len(pos), **q})
    return pd.DataFrame(rows)


def alpha_grid(step: float) -> np.ndarray:
    n = int(round(1 / step))
    if not np.isclose(n * step, 1.0):
        raise BaseselError(f"alpha step {step} does not divide 1")
    return np.round(np.arange(n + 1) * step, 10)


def alpha_sweep(df: pd.DataFrame, step: float = 0.001, metrics=METRICS) -> pd.DataFrame:
    """Rho of C_ij(alpha) = (1-alpha) S_i' + alpha S_j' per group, for all pairs i<j and alphas.

    Columns: pair, alpha, one column per group, mean (over groups where rho is defined).
    """
    norm = minmax_signed(df, metrics)
    alphas = alpha_grid(step)
    acc = df.accuracy.to_numpy(np.float64)
    group_list = list(groups(df))
    frames = []
    for i, j in itertools.combinations(metrics, 2):
        si, sj = norm[i].to_numpy(), norm[j].to_numpy()
        block = {"pair": f"C_{i[1:]}{j[1:]}", "alpha": alphas}
        for name, pos in group_list:
            combo = (1 - alphas)[:, None] * si[pos][None, :] + alphas[:, None] * sj[pos][None, :]
            block[name] = stats.spearman_rows(combo, acc[pos])
        frame = pd.DataFrame(block)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            frame["mean"] = frame[[g for g, _ in group_list]].mean(axis=1, skipna=True)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def best_alphas(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per pair: the first argmax of mean rho, the spread over groups there, and leave-one-group-out."""
    group_cols = [c for c in sweep.columns if c not in ("pair", "alpha", "mean")]
    rows = []
    for pair, frame in sweep.groupby("pair", sort=False):
        frame = frame.reset_index(drop=True)
        mean = frame["mean"].to_numpy()
        if not np.isfinite(mean).any():
            rows.append({"pair": pair, "best_alpha": np.nan, "mean_rho": np.nan})
            continue
        k = int(np.nanargmax(mean))  # first maximum on the grid
        at = frame.loc[k, group_cols].to_numpy(np.float64)
        ok = np.isfinite(at)
        logo = leave_one_group_out(frame, group_cols)
        rows.append({
            "pair": pair, "best_alpha": float(frame.alpha[k]), "mean_rho": float(mean[k]),
            "variance": float(np.var(at[ok])), "min_rho": float(at[ok].min()),
            "min_group": group_cols[int(np.nanargmin(at))], "max_rho": float(at[ok].max()),
            "max_group": group_cols[int(np.nanargmax(at))], "n_groups": int(ok.sum()),
            "logo_rho": logo["rho"], "logo_alpha_min": logo["alpha_min"], "logo_alpha_max": logo["alpha_max"],
        })
    return pd.DataFrame(rows)


def leave_one_group_out(frame: pd.DataFrame, group_cols: list[str]) -> dict:
    """Alpha fitted on all groups but one, rho measured on the one left out, averaged; `alphas`:
    the alpha fitted for each group (on the others)."""
    values = frame[group_cols].to_numpy(np.float64)  # (alphas, groups)
    held, chosen, alphas = [], [], {}
    for g in range(values.shape[1]):
        others = np.delete(values, g, axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = np.nanmean(others, axis=1) if others.shape[1] else np.full(len(values), np.nan)
        if not np.isfinite(fit).any():
            continue
        k = int(np.nanargmax(fit))
        chosen.append(float(frame.alpha.iloc[k]))
        held.append(values[k, g])
        alphas[group_cols[g]] = chosen[-1]
    held = np.array(held, dtype=np.float64)
    return {"rho": float(np.nanmean(held)) if np.isfinite(held).any() else np.nan,
            "alpha_min": min(chosen) if chosen else np.nan, "alpha_max": max(chosen) if chosen else np.nan,
            "alphas": alphas}


def c56_summary(best: pd.DataFrame) -> pd.DataFrame:
    """The best C_56 in the paper's form, beside the paper's numbers."""
    row = best.set_index("pair").loc["C_56"]
    return pd.DataFrame([
        {"quantity": "best alpha", "basesel": row.best_alpha, "paper": PAPER_C56["alpha"]},
        {"quantity": "mean rho", "basesel": row.mean_rho, "paper": PAPER_C56["mean"]},
        {"quantity": "variance of rho", "basesel": row.variance, "paper": PAPER_C56["variance"]},
        {"quantity": "max rho", "basesel": row.max_rho, "paper": PAPER_C56["max"]},
        {"quantity": "group of max", "basesel": row.max_group, "paper": PAPER_C56["max_group"]},
        {"quantity": "min rho", "basesel": row.min_rho, "paper": PAPER_C56["min"]},
        {"quantity": "group of min", "basesel": row.min_group, "paper": PAPER_C56["min_group"]},
        {"quantity": "leave-one-group-out rho", "basesel": row.logo_rho, "paper": "not reported"},
    ])


def score_columns(df: pd.DataFrame) -> list[str]:
    """S1..S6, then every baseline score the table holds: on the training split, then on the probe set."""
    from .transfer import BASELINES, PROBE_SUFFIX, SCORES

    return [*METRICS, *[b for b in BASELINES if b in df.columns],
            *[b + PROBE_SUFFIX for b in SCORES if b + PROBE_SUFFIX in df.columns]]


def leaderboard(df: pd.DataFrame, metrics, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every score ranked by its mean weighted Kendall tau and its mean Spearman rho over groups.

    Intervals: 95% bootstrap over source models, resampled within every group at once, of the mean
    over groups. Scores are oriented so that larger is better before weighted tau is taken.
    """
    rng = np.random.default_rng(seed)
    group_list = list(groups(df))
    acc = df.accuracy.to_numpy(np.float64)
    rows = []
    for m in metrics:
        x = DIRECTION.get(m, 1) * df[m].to_numpy(np.float64)
        rho, wtau = [], []
        n_wboot = min(n_boot, WTAU_RESAMPLES)
        boot_rho, boot_wtau = np.full((n_boot, len(group_list)), np.nan), np.full((n_wboot, len(group_list)), np.nan)
        applicable = 0
        for g, (_, pos) in enumerate(group_list):
            xs, ys = x[pos], acc[pos]
            if np.isnan(xs).any():  # not applicable to a model of this group: left out of the means
                rho.append(np.nan)
                wtau.append(np.nan)
                continue
            applicable += 1
            rho.append(stats.spearman_pairs(xs[None, :], ys[None, :])[0])
            wtau.append(stats.weighted_tau(xs, ys))
            idx = stats.resamples(rng, len(pos), n_boot)
            boot_rho[:, g] = stats.spearman_pairs(xs[idx], ys[idx])
            boot_wtau[:, g] = stats.weighted_tau_rows(xs[idx[:n_wboot]], ys[idx[:n_wboot]])
        if not applicable:  # not applicable anywhere: not ranked
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mr, mw = np.nanmean(boot_rho, axis=1), np.nanmean(boot_wtau, axis=1)
            (wlo, whi), (rlo, rhi) = stats.interval(mw), stats.interval(mr)
            rows.append({"score": m, "mean_weighted_tau": np.nanmean(wtau), "wtau_lo": wlo, "wtau_hi": whi,
                         "mean_rho": np.nanmean(rho), "rho_lo": rlo, "rho_hi": rhi,
                         "groups_defined": int(np.isfinite(rho).sum()), "kind": score_kind(m)})
    board = pd.DataFrame(rows).sort_values("mean_weighted_tau", ascending=False, kind="stable").reset_index(drop=True)
    board.insert(0, "rank_by_weighted_tau", np.arange(1, len(board) + 1))
    # A score constant within every group has no defined correlation: it ranks last, not silently dropped.
    board["rank_by_rho"] = board.mean_rho.rank(ascending=False, method="min", na_option="bottom").astype(int)
    return board


def with_c56(df: pd.DataFrame, sweep: pd.DataFrame) -> pd.DataFrame:
    """The table with the paper's C_56 as two more scores (larger is better): at the paper's alpha,
    and at the leave-one-group-out alpha (each group's rows combined with the alpha fitted on the
    other groups), both on the min-max scaled, sign-flipped S5 and S6 of the alpha sweep."""
    norm = minmax_signed(df, ("S5", "S6"))
    out = df.copy()
    out[C56[0]] = (1 - PAPER_C56["alpha"]) * norm["S5"] + PAPER_C56["alpha"] * norm["S6"]
    frame = sweep[sweep.pair == "C_56"].reset_index(drop=True)
    alphas = leave_one_group_out(frame, [c for c in frame.columns if c not in ("pair", "alpha", "mean")])["alphas"]
    alpha = np.full(len(df), np.nan)
    for name, pos in groups(df):
        alpha[pos] = alphas.get(name, np.nan)
    out[C56[1]] = (1 - alpha) * norm["S5"] + alpha * norm["S6"]
    return out


def not_applicable(df: pd.DataFrame, metrics) -> dict[str, list[str]]:
    """{score: the groups it is left out of}: those where it does not apply to some model (NaN)."""
    out = {}
    for m in metrics:
        if m not in df.columns:
            continue
        left_out = [name for name, pos in groups(df) if np.isnan(df[m].to_numpy(np.float64)[pos]).any()]
        if left_out:
            out[m] = left_out
    return out


def score_kind(name: str) -> str:
    """paper (S1..S6, C_56), task-agnostic (a property of the base model alone) or baseline."""
    if name in METRICS or name in C56:
        return "paper"
    from .transfer import AGNOSTIC

    return "task-agnostic" if name in AGNOSTIC else "baseline"


# Outputs written as they are (io.write_tables), not at 6 significant digits: the C_56 summary
# mixes numbers and group names.
EXACT = ("c56_summary.tsv",)


def analyze(df: pd.DataFrame, *, alpha_step: float = 0.001, n_boot: int = 1000, seed: int = 0) -> dict:
    """The whole analysis of a table: {output file name: table (or the summary's dict)}."""
    metrics = score_columns(df)
    df = check_table(df, metrics)
    corr = correlations(df, metrics, n_boot=n_boot, seed=seed)
    sweep = alpha_sweep(df, alpha_step)
    best = best_alphas(sweep)
    scored = with_c56(df, sweep)
    board = leaderboard(scored, [*metrics, *C56], n_boot=n_boot, seed=seed)
    c = best.set_index("pair").loc["C_56"]
    summary = {
        "n_rows": len(df), "n_groups": int(df.groupby(["arch", "target"]).ngroups),
        "architectures": sorted(df.arch.unique()), "targets": sorted(df.target.unique()),
        "c56": {"best_alpha": c.best_alpha, "mean_rho": c.mean_rho, "variance": c.variance, "min_rho": c.min_rho,
                "max_rho": c.max_rho, "leave_one_group_out_rho": c.logo_rho},
        "paper_c56": PAPER_C56,
        "best_pair": best.loc[best.mean_rho.idxmax(), "pair"] if best.mean_rho.notna().any() else None,
        "mean_rho_by_metric": corr.groupby("metric").rho.mean().to_dict(),
        "leaderboard_by_weighted_tau": board.score.tolist(),
    }
    na = not_applicable(scored, [*metrics, *C56])
    if na:  # only where some score does not apply to some model
        summary["not_applicable"] = na
    return {"correlations.tsv": corr, "alpha_sweep.tsv": sweep, "best_alpha.tsv": best,
            "c56_summary.tsv": c56_summary(best), "leaderboard.tsv": board, "summary.json": _plain(summary)}


def as_written(results: dict) -> dict:
    """analyze's tables as the files hold them: NOT_APPLICABLE, never an empty cell, where a pair
    C_ij uses a score that does not apply in a group (summary.json's "not_applicable": S5 and S6 of
    a zoo model whose probed layer has no zeros), in that group's column of the alpha sweep, in its
    mean where it applies in no group, and in the pair's best-alpha row and the C_56 summary then.
    An empty cell that is left means undefined (a score constant over a group has no rank
    correlation), never not applicable. The numbers are those of analyze, unchanged."""
    na = {m: set(g) for m, g in results["summary.json"].get("not_applicable", {}).items()}
    sweep, best = results["alpha_sweep.tsv"], results["best_alpha.tsv"]
    group_cols = [c for c in sweep.columns if c not in ("pair", "alpha", "mean")]
    left_out = {pair: na.get(f"S{pair[2]}", set()) | na.get(f"S{pair[3]}", set()) for pair in best.pair}
    if not any(left_out.values()):
        return results
    out = dict(results)
    sweep = sweep.copy()
    for col in [*group_cols, "mean"]:
        marks = sweep.pair.map(lambda pair: col in left_out[pair] if col != "mean"
                               else set(group_cols) <= left_out[pair])
        if marks.any():
            sweep[col] = _marked(sweep[col], marks)
    out["alpha_sweep.tsv"] = sweep
    nowhere = best.pair.map(lambda pair: set(group_cols) <= left_out[pair])
    if nowhere.any():
        best = best.copy()
        for col in best.columns.drop("pair"):
            best[col] = _marked(best[col], nowhere)
        out["best_alpha.tsv"] = best
        if nowhere[best.pair == "C_56"].any():
            c56 = results["c56_summary.tsv"].copy()
            c56["basesel"] = NOT_APPLICABLE
            out["c56_summary.tsv"] = c56
    return out


def _marked(column: pd.Series, marks: pd.Series) -> pd.Series:
    """`column` with NOT_APPLICABLE where `marks`; numbers as io.write_tables writes floats, since a
    column of text and numbers is written as text."""
    from ..io import FLOAT_FORMAT

    text = column.map(lambda v: FLOAT_FORMAT % v if isinstance(v, (float, np.floating)) and np.isfinite(v)
                      else ("" if isinstance(v, (float, np.floating)) else v))
    return text.mask(marks.to_numpy(), NOT_APPLICABLE)


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
