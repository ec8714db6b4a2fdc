"""How well each score ranks base models: per-group correlations, the alpha sweep, C_56.

Input is one table with a row per (arch, source, target): the scores and the fine-tuned accuracy.
A *group* is one (arch, target) pair; correlations are taken across its source models. The
conventions (normalisation, sign flips, the grid, tie handling, first argmax) follow
shared/spec/metrics.md, section "Combining two metrics".
"""
from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .io import BaseselError, write_json, write_tsv
from .scores import DIRECTION, METRICS

# The paper's section 5.3 numbers for the best C_56, shown beside ours.
PAPER_C56 = {"alpha": 0.574, "mean": 0.7514, "variance": 0.005993, "max": 0.8874, "min": 0.5854,
             "max_group": "alexnet/caltech101", "min_group": "resnet18/pets"}
KEY_COLUMNS = ("arch", "source", "target", "accuracy")


def check_table(df: pd.DataFrame, metrics=METRICS) -> pd.DataFrame:
    missing = [c for c in (*KEY_COLUMNS, *metrics) if c not in df.columns]
    if missing:
        raise BaseselError(f"table lacks column(s) {', '.join(missing)}; expected {', '.join((*KEY_COLUMNS, *metrics))}")
    if df.duplicated(["arch", "source", "target"]).any():
        raise BaseselError("table has duplicate (arch, source, target) rows")
    bad = df[list(metrics) + ["accuracy"]].apply(pd.to_numeric, errors="coerce").isna()
    if bad.any().any():
        cols = [c for c in bad.columns if bad[c].any()]
        raise BaseselError(f"table has missing or non-numeric values in {', '.join(cols)}")
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
        scaled = np.where(x == np.inf, 1.0, np.where(x == -np.inf, -1.0, scaled))
        out[m] = DIRECTION.get(m, 1) * scaled
    return out


def spearman_rows(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Spearman rho of each row of `values` (R, n) with `target` (n,); average ranks for ties.

    NaN where a row (or the target) is constant, as scipy.stats.spearmanr gives.
    """
    rx = stats.rankdata(values, axis=1)
    ry = stats.rankdata(target)
    rx = rx - rx.mean(axis=1, keepdims=True)
    ry = ry - ry.mean()
    num = rx @ ry
    den = np.sqrt((rx * rx).sum(axis=1) * (ry @ ry))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = num / den
    return np.where(den > 1e-12, np.clip(rho, -1, 1), np.nan)


def groups(df: pd.DataFrame):
    """(name, row positions) per (arch, target), in a stable order."""
    for (arch, target), rows in df.groupby(["arch", "target"], sort=True):
        yield f"{arch}/{target}", rows.index.to_numpy()


# weightedtau has no vectorised form; this many resamples bound its bootstrap's cost.
WTAU_RESAMPLES = 200


def _finite(x: np.ndarray) -> np.ndarray:
    """+-inf (S3 with zero intra-class scatter) as the largest finite floats, so that it ranks first or last."""
    return np.where(np.isposinf(x), np.finfo(float).max, np.where(np.isneginf(x), -np.finfo(float).max, x))


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(1) * (yc * yc).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (xc * yc).sum(1) / den, np.nan)


def _kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair (scipy's default variant, ties included)."""
    i, j = np.triu_indices(x.shape[1], 1)
    dx, dy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
    n0 = len(i)
    den = np.sqrt((n0 - (dx == 0).sum(1)) * (n0 - (dy == 0).sum(1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (dx * dy).sum(1) / den, np.nan)


def _measures(x: np.ndarray, y: np.ndarray, direction: int) -> dict[str, np.ndarray]:
    """Ranking measures of score rows x (B, n) against accuracy rows y (B, n)."""
    first = np.argmax(direction * _finite(x), axis=1)
    picked = y[np.arange(len(y)), first]
    best = y.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        top1 = np.where(best > 0, picked / best, np.nan)
    return {"rho": _spearman_pairs(x, y), "kendall_tau": _kendall_rows(x, y), "pearson_r": _pearson_rows(x, y),
            "top1_relative_accuracy": top1, "regret": best - picked}


def ranking_quality(score: np.ndarray, acc: np.ndarray, direction: int, n_boot: int, rng) -> dict:
    """The spec's ranking measures for one score in one group, each with a 95% bootstrap interval
    over source models. `direction` orients the score for weighted tau and for 'ranked first'."""
    point = {k: float(v[0]) for k, v in _measures(score[None, :], acc[None, :], direction).items()}
    point["weighted_tau"] = _wtau(direction * score, acc)
    idx = rng.integers(0, len(acc), size=(n_boot, len(acc)))
    boot = _measures(score[idx], acc[idx], direction)
    n_wboot = min(n_boot, WTAU_RESAMPLES)
    boot["weighted_tau"] = np.array([_wtau(direction * score[i], acc[i]) for i in idx[:n_wboot]])
    out = {}
    for name in ("rho", "kendall_tau", "weighted_tau", "pearson_r", "top1_relative_accuracy", "regret"):
        b = boot[name]
        lo, hi = np.nanpercentile(b, [2.5, 97.5]) if np.isfinite(b).any() else (np.nan, np.nan)
        out.update({name: point[name], f"{name}_lo": lo, f"{name}_hi": hi})
    return out


def _spearman_pairs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair of x and y (B, n): Pearson r of average ranks."""
    return _pearson_rows(stats.rankdata(x, axis=1), stats.rankdata(y, axis=1))


def correlations(df: pd.DataFrame, metrics=METRICS, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per (arch, target, metric): Spearman rho of the raw metric with accuracy (the paper's
    Figure 2), its bootstrap 95% interval over source models, and the other ranking measures."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, pos in groups(df):
        acc = df.accuracy.to_numpy(np.float64)[pos]
        arch, target = name.split("/", 1)
        for m in metrics:
            q = ranking_quality(df[m].to_numpy(np.float64)[pos], acc, DIRECTION.get(m, 1), n_boot, rng)
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
            block[name] = spearman_rows(combo, acc[pos])
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
    """Alpha fitted on all groups but one, rho measured on the one left out, averaged."""
    values = frame[group_cols].to_numpy(np.float64)  # (alphas, groups)
    held, chosen = [], []
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
    held = np.array(held, dtype=np.float64)
    return {"rho": float(np.nanmean(held)) if np.isfinite(held).any() else np.nan,
            "alpha_min": min(chosen) if chosen else np.nan, "alpha_max": max(chosen) if chosen else np.nan}


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
    """S1..S6, then every baseline score the table holds."""
    from .transfer import BASELINES

    return [*METRICS, *[b for b in BASELINES if b in df.columns]]


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
        boot_rho, boot_wtau = np.zeros((n_boot, len(group_list))), np.zeros((n_wboot, len(group_list)))
        for g, (_, pos) in enumerate(group_list):
            xs, ys = x[pos], acc[pos]
            rho.append(spearman_rows(xs[None, :], ys)[0])
            wtau.append(_wtau(xs, ys))
            idx = rng.integers(0, len(pos), size=(n_boot, len(pos)))
            boot_rho[:, g] = _spearman_pairs(xs[idx], ys[idx])
            boot_wtau[:, g] = [_wtau(xs[i], ys[i]) for i in idx[:n_wboot]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mr, mw = np.nanmean(boot_rho, axis=1), np.nanmean(boot_wtau, axis=1)
            rows.append({"score": m, "mean_weighted_tau": np.nanmean(wtau),
                         "wtau_lo": np.nanpercentile(mw, 2.5), "wtau_hi": np.nanpercentile(mw, 97.5),
                         "mean_rho": np.nanmean(rho), "rho_lo": np.nanpercentile(mr, 2.5), "rho_hi": np.nanpercentile(mr, 97.5),
                         "groups_defined": int(np.isfinite(rho).sum()),
                         "kind": "paper" if m in METRICS else ("task-agnostic" if m.startswith("source_") else "baseline")})
    board = pd.DataFrame(rows).sort_values("mean_weighted_tau", ascending=False, kind="stable").reset_index(drop=True)
    board.insert(0, "rank_by_weighted_tau", np.arange(1, len(board) + 1))
    # A score constant within every group has no defined correlation: it ranks last, not silently dropped.
    board["rank_by_rho"] = board.mean_rho.rank(ascending=False, method="min", na_option="bottom").astype(int)
    return board


def _wtau(x, y) -> float:
    x = _finite(x)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    return stats.weightedtau(x, y).statistic


OUTPUTS = ("correlations.tsv", "alpha_sweep.tsv", "best_alpha.tsv", "c56_summary.tsv", "leaderboard.tsv", "summary.json")


def analyze(df: pd.DataFrame, outdir, *, alpha_step: float = 0.001, n_boot: int = 1000, seed: int = 0) -> dict:
    """Run the whole analysis on a table and write its files to `outdir`; return the summary."""
    metrics = score_columns(df)
    df = check_table(df, metrics)
    outdir = Path(outdir)
    corr = correlations(df, metrics, n_boot=n_boot, seed=seed)
    board = leaderboard(df, metrics, n_boot=n_boot, seed=seed)
    sweep = alpha_sweep(df, alpha_step)
    best = best_alphas(sweep)
    c56 = c56_summary(best)
    write_tsv(corr, outdir / "correlations.tsv", float_format="%.6g")
    write_tsv(sweep, outdir / "alpha_sweep.tsv", float_format="%.6g")
    write_tsv(best, outdir / "best_alpha.tsv", float_format="%.6g")
    write_tsv(c56, outdir / "c56_summary.tsv")
    write_tsv(board, outdir / "leaderboard.tsv", float_format="%.6g")
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
    write_json(_plain(summary), outdir / "summary.json")
    return summary


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
