"""How well each score ranks models: per-group ranking measures, the leaderboard, the alpha sweep, C_56.

Input is one table with a row per (model, group): the scores and the ground truth (fine-tuned
accuracy). A `Layout` says which columns are which: the workflow's is a row per (arch, source,
target), a group per (arch, target), correlations taken across its source models; a published
benchmark's is a row per (model, target), a group per target (`basesel analyze`, any layout).
The conventions (normalisation, sign flips, the grid, tie handling, first argmax) are those of
docs/metrics.md, section "Combining two scores"; the statistics themselves live in stats.py.
Everything here returns tables; `analyze` gives them all, named by the file each is written to
(the analysis rule lists the same names as its outputs), and io.write_tables writes them.

Two kinds of absent value: NOT_APPLICABLE (a score that does not apply to a model: S5 and S6 of a
model without zeros) leaves the score out of that model's whole group, since a ranking of the
others would not compare with the rest; an empty cell (a value nobody reported) leaves that model
out of that score in its group, and is counted.
"""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import BaseselError
from . import stats
from .featuremap_scores import C56, DIRECTION, METRICS, NOT_APPLICABLE, PAPER_ALPHA

# The paper's section 5.3 numbers for the best C_56, shown beside ours.
PAPER_C56 = {"alpha": PAPER_ALPHA, "mean": 0.7514, "variance": 0.005993, "max": 0.8874, "min": 0.5854,
             "max_group": "alexnet/caltech101", "min_group": "resnet18/pets"}
# A rank correlation across fewer models says nothing.
MIN_MODELS = 3


@dataclass(frozen=True)
class Layout:
    """Which columns of a score table are which: the model, the columns whose values make a group
    (correlations are taken across the models of one group), the ground truth, and the scores for
    which a smaller value is better (the paper's S2, S4, S5, S6)."""

    model: str = "source"
    groups: tuple = ("arch", "target")
    truth: str = "accuracy"
    lower_is_better: frozenset = frozenset(s for s, d in DIRECTION.items() if d < 0)

    def direction(self, score: str) -> int:
        """+1 where a larger value is better, -1 where a smaller one is."""
        return -1 if score in self.lower_is_better else 1

    def describe(self) -> dict:
        return {"model": self.model, "groups": list(self.groups), "truth": self.truth,
                "lower_is_better": sorted(self.lower_is_better)}


# The workflow's table.tsv: a row per (arch, source, target), a group per (arch, target).
WORKFLOW = Layout()


@dataclass
class Checked:
    """A score table as the measures read it: `df` the rows analysed (a ground truth, in a group of
    at least MIN_MODELS models), positions 0..n-1, scores and truth as floats, NaN where absent;
    `missing` True where a score's cell was empty (NaN in df that is not NOT_APPLICABLE)."""

    df: pd.DataFrame
    missing: pd.DataFrame
    skipped_groups: dict  # group name -> its models, where fewer than MIN_MODELS have a ground truth
    no_truth: int  # rows left out for want of a ground truth


def check_table(df: pd.DataFrame, metrics=METRICS, layout: Layout = WORKFLOW) -> Checked:
    """The table checked, each error naming what to fix, before any measure is computed: a missing
    column, a cell that is neither a number nor empty nor NOT_APPLICABLE (its line and column), a
    model twice in one group. Rows without a ground truth are left out and counted; a group with
    fewer than MIN_MODELS models is left out and named."""
    needed = [*layout.groups, layout.model, layout.truth, *metrics]
    lacking = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if lacking:
        raise BaseselError(f"table lacks column(s) {', '.join(lacking)}; expected {', '.join(dict.fromkeys(needed))}")
    df = df.reset_index(drop=True)
    keys = [*layout.groups, layout.model]
    twice = df[df.duplicated(keys, keep=False)]
    if len(twice):
        first = twice.iloc[0]
        lines = [str(i + 2) for i in twice.index[(twice[keys] == first[keys]).all(axis=1)]]
        group = "/".join(str(first[g]) for g in layout.groups) or "the table"
        raise BaseselError(f"model {first[layout.model]!r} appears more than once in group {group} "
                           f"(lines {', '.join(lines)}); one row per model and group")
    columns = [*metrics, layout.truth]
    values, empty, na = {}, {}, {}
    for c in columns:
        cells = df[c]
        na[c] = cells.isin([NOT_APPLICABLE]).to_numpy()
        empty[c] = cells.isna().to_numpy() | (cells.astype(str).str.strip() == "").to_numpy()
        numbers = pd.to_numeric(cells.mask(na[c] | empty[c]), errors="coerce")
        bad = numbers.isna().to_numpy() & ~na[c] & ~empty[c]
        if c == layout.truth:
            bad |= na[c]
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            group = "/".join(str(df.loc[i, g]) for g in layout.groups)
            where = f"model {df.loc[i, layout.model]!r}" + (f" in group {group}" if group else "")
            raise BaseselError(f"line {i + 2} ({where}), column {c!r}: {df.loc[i, c]!r} is not a number")
        values[c] = numbers.to_numpy(np.float64)
    out = df.copy()
    for c in columns:
        out[c] = values[c]
    truth = ~empty[layout.truth]
    missing = pd.DataFrame({m: empty[m] for m in metrics})
    out, missing = out[truth], missing[truth]
    skipped = {}
    if len(out):
        sizes = out.groupby(list(layout.groups), sort=True).size() if layout.groups else pd.Series({(): len(out)})
        for key, n in sizes.items():
            if n < MIN_MODELS:
                name = _group_name(key)
                keep = np.ones(len(out), bool)
                for g, v in zip(layout.groups, key if isinstance(key, tuple) else (key,)):
                    keep &= (out[g] == v).to_numpy()
                skipped[name] = out.loc[keep, layout.model].astype(str).tolist()
                out, missing = out[~keep], missing[~keep]
    if not len(out):
        raise BaseselError(f"no group has {MIN_MODELS} or more models with a ground truth ({layout.truth!r}); a rank "
                           f"correlation needs at least {MIN_MODELS}" + (f"; too few in {', '.join(skipped)}" if skipped else ""))
    return Checked(out.reset_index(drop=True), missing.reset_index(drop=True), skipped, int((~truth).sum()))


def _group_name(key) -> str:
    key = key if isinstance(key, tuple) else (key,)
    return "/".join(str(k) for k in key) or "all"


def minmax_signed(df: pd.DataFrame, metrics=METRICS, layout: Layout = WORKFLOW) -> pd.DataFrame:
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
        out[m] = layout.direction(m) * scaled
    return out


def groups(df: pd.DataFrame, layout: Layout = WORKFLOW):
    """(name, row positions) per group (per (arch, target) in the workflow), in a stable order."""
    if not layout.groups:
        yield "all", df.index.to_numpy()
        return
    for key, rows in df.groupby(list(layout.groups), sort=True):
        yield _group_name(key), rows.index.to_numpy()


def ranked_rows(df: pd.DataFrame, score: str, pos: np.ndarray, missing: pd.DataFrame | None = None):
    """The rows of a group that `score` ranks: those with a value (an empty cell leaves its model
    out); None where the score does not apply to some model of the group, or fewer than MIN_MODELS
    models have a value."""
    gone = missing[score].to_numpy()[pos] if missing is not None and score in missing else np.zeros(len(pos), bool)
    keep = pos[~gone]
    if np.isnan(df[score].to_numpy(np.float64)[keep]).any() or len(keep) < MIN_MODELS:
        return None
    return keep


def stream(seed: int, *names: str) -> np.random.Generator:
    """The bootstrap resamples of one (group, score): a generator of their own, seeded by the run's
    seed and the names, so that adding or removing a score or a group leaves every other's interval
    as it was."""
    import zlib

    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])


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


def correlations(df: pd.DataFrame, metrics=METRICS, n_boot: int = 1000, seed: int = 0, layout: Layout = WORKFLOW,
                 missing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (group, metric): Spearman rho of the raw metric with accuracy (the paper's Figure 2), its
    bootstrap 95% interval over the group's models (resamples of its own: stream), and the other
    ranking measures. A metric not
    applicable to a model of the group (not_applicable), or with a value for fewer than MIN_MODELS
    of its models, has no row for the group. `n_missing` (only where `missing` marks a cell): the
    group's models left out for want of a value."""
    counted = missing is not None and bool(missing.to_numpy().any())
    rows = []
    for name, pos in groups(df, layout):
        key = {g: df[g].iloc[pos[0]] for g in layout.groups} or {"group": name}
        for m in metrics:
            keep = ranked_rows(df, m, pos, missing)
            if keep is None:
                continue
            score, acc = df[m].to_numpy(np.float64)[keep], df[layout.truth].to_numpy(np.float64)[keep]
            q = ranking_quality(score, acc, layout.direction(m), n_boot, stream(seed, "correlations", name, m))
            rows.append({**key, "metric": m, "n_models": len(keep), **({"n_missing": len(pos) - len(keep)} if counted else {}), **q})
    return pd.DataFrame(rows)


def alpha_grid(step: float) -> np.ndarray:
    n = int(round(1 / step))
    if not np.isclose(n * step, 1.0):
        raise BaseselError(f"alpha step {step} does not divide 1")
    return np.round(np.arange(n + 1) * step, 10)


def alpha_sweep(df: pd.DataFrame, step: float = 0.001, metrics=METRICS, layout: Layout = WORKFLOW,
                missing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rho of C_ij(alpha) = (1-alpha) S_i' + alpha S_j' per group, for all pairs i<j of the paper's
    scores in `metrics` and all alphas; in each group, over the models with a value of both.

    Columns: pair, alpha, one column per group, mean (over groups where rho is defined).
    """
    paper = [m for m in METRICS if m in metrics]
    norm = minmax_signed(df, paper, layout)
    alphas = alpha_grid(step)
    acc = df[layout.truth].to_numpy(np.float64)
    group_list = list(groups(df, layout))
    frames = []
    for i, j in itertools.combinations(paper, 2):
        si, sj = norm[i].to_numpy(), norm[j].to_numpy()
        block = {"pair": f"C_{i[1:]}{j[1:]}", "alpha": alphas}
        for name, pos in group_list:
            if missing is not None:
                pos = pos[~(missing[i].to_numpy()[pos] | missing[j].to_numpy()[pos])]
            if len(pos) < MIN_MODELS:
                block[name] = np.full(len(alphas), np.nan)
                continue
            combo = combination(si[pos][None, :], sj[pos][None, :], alphas[:, None])
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
    # Every column even where no pair has a defined rho (every group's accuracies equal): NaN, not absent.
    return pd.DataFrame(rows, columns=["pair", "best_alpha", "mean_rho", "variance", "min_rho", "min_group", "max_rho",
                                       "max_group", "n_groups", "logo_rho", "logo_alpha_min", "logo_alpha_max"])


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
    """S1..S6, then every baseline score the table holds: on the training split, then on the probe
    set; a pooled score (NCTI, ETran) where the table holds its parts (with_pooled combines them)."""
    from .transfer import BASELINES, FEATURE_SCORES, POOLED, PROBE_SUFFIX, part_columns

    def held(name, suffix=""):
        if name in POOLED:
            return all(c in df.columns for c in part_columns(name, suffix))
        return name + suffix in df.columns

    return [*METRICS, *[b for b in BASELINES if held(b)],
            *[b + PROBE_SUFFIX for b in FEATURE_SCORES if held(b, PROBE_SUFFIX)]]


def with_pooled(df: pd.DataFrame, layout: Layout = WORKFLOW) -> pd.DataFrame:
    """The table with each pooled score (transfer.POOLED: NCTI, ETran; and NAME@probe) combined from
    its parts over the models of each group, never across groups, as its authors combine it over
    the candidate pool; a model without a part has none."""
    from .featuremap_scores import as_numbers
    from .transfer import POOLED, PROBE_SUFFIX, part_columns

    out = df = df.reset_index(drop=True)
    positions = None
    for name, (_, parts, combine) in POOLED.items():
        for suffix in ("", PROBE_SUFFIX):
            columns = part_columns(name, suffix)
            if not all(c in df.columns for c in columns) or name + suffix in df.columns:
                continue
            values = as_numbers(df[columns]).to_numpy(np.float64)
            combined = np.full(len(df), np.nan)
            positions = positions if positions is not None else [pos for _, pos in groups(df, layout)]
            for pos in positions:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # a part missing for every model: NaN
                    combined[pos] = combine({p: values[pos, i] for i, p in enumerate(parts)})
            out = out.assign(**{name + suffix: combined})
    return out


def leaderboard(df: pd.DataFrame, metrics, n_boot: int = 1000, seed: int = 0, layout: Layout = WORKFLOW,
                missing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every score ranked by its mean weighted Kendall tau and its mean Spearman rho over groups.

    Intervals: 95% bootstrap over the models, resampled within every group at once (each group's
    resamples of its own: stream), of the mean over groups. Scores are oriented so that larger is better before weighted tau is taken.
    """
    group_list = list(groups(df, layout))
    acc = df[layout.truth].to_numpy(np.float64)
    rows = []
    for m in metrics:
        x = layout.direction(m) * df[m].to_numpy(np.float64)
        rho, wtau = [], []
        n_wboot = min(n_boot, WTAU_RESAMPLES)
        boot_rho, boot_wtau = np.full((n_boot, len(group_list)), np.nan), np.full((n_wboot, len(group_list)), np.nan)
        applicable = 0
        for g, (_, pos) in enumerate(group_list):
            keep = ranked_rows(df, m, pos, missing)
            if keep is None:  # not applicable to a model of this group: left out of the means
                rho.append(np.nan)
                wtau.append(np.nan)
                continue
            applicable += 1
            xs, ys = x[keep], acc[keep]
            rho.append(stats.spearman_pairs(xs[None, :], ys[None, :])[0])
            wtau.append(stats.weighted_tau(xs, ys))
            idx = stats.resamples(stream(seed, "leaderboard", group_list[g][0], m), len(keep), n_boot)
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


def with_c56(df: pd.DataFrame, sweep: pd.DataFrame, layout: Layout = WORKFLOW) -> pd.DataFrame:
    """The table with the paper's C_56 as two more scores (larger is better): at the paper's alpha,
    and at the leave-one-group-out alpha (each group's rows combined with the alpha fitted on the
    other groups), both on the min-max scaled, sign-flipped S5 and S6 of the alpha sweep. A model
    without S5 or S6 has no C_56."""
    norm = minmax_signed(df, ("S5", "S6"), layout)
    out = df.copy()
    out[C56[0]] = c56_of(norm["S5"], norm["S6"], PAPER_C56["alpha"])
    frame = sweep[sweep.pair == "C_56"].reset_index(drop=True)
    alphas = leave_one_group_out(frame, [c for c in frame.columns if c not in ("pair", "alpha", "mean")])["alphas"]
    alpha = np.full(len(df), np.nan)
    for name, pos in groups(df, layout):
        alpha[pos] = alphas.get(name, np.nan)
    out[C56[1]] = c56_of(norm["S5"], norm["S6"], alpha)
    return out


def combination(si, sj, alpha):
    """The paper's C_ij(alpha) = (1 - alpha) S_i' + alpha S_j' of two scores already scaled to
    [-1, 1] and sign-flipped (minmax_signed): larger is better. The one place it is written; numpy
    broadcasting gives every alpha of a sweep at once."""
    return (1 - alpha) * si + alpha * sj


def c56_of(s5, s6, alpha):
    """C_56(alpha): combination of the scaled S5 and S6."""
    return combination(s5, s6, alpha)


def not_applicable(df: pd.DataFrame, metrics, layout: Layout = WORKFLOW, missing: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """{score: the groups it is left out of}: those where it does not apply to some model (NaN that
    is not an empty cell)."""
    out = {}
    for m in metrics:
        if m not in df.columns:
            continue
        left_out = []
        for name, pos in groups(df, layout):
            gone = missing[m].to_numpy()[pos] if missing is not None and m in missing else np.zeros(len(pos), bool)
            if np.isnan(df[m].to_numpy(np.float64)[pos[~gone]]).any():
                left_out.append(name)
        if left_out:
            out[m] = left_out
    return out


def score_kind(name: str) -> str:
    """paper (S1..S6, C_56), task-agnostic (a property of the base model alone), proxy (a
    classifier's accuracy on the features: kNN, the linear probe) or baseline."""
    if name in METRICS or name in C56:
        return "paper"
    from .transfer import AGNOSTIC, PROBE_SUFFIX, PROXIES

    if name in (*AGNOSTIC, *AGNOSTIC_PUBLISHED):
        return "task-agnostic"
    return "proxy" if name.removesuffix(PROBE_SUFFIX) in PROXIES else "baseline"


# Task-agnostic columns of the published tables (data/published/): a model's ImageNet-1k top-1
# accuracy, the score every transferability score must beat to be worth computing.
AGNOSTIC_PUBLISHED = ("imagenet_top1",)
# Outputs written as they are (io.write_tables), not at 6 significant digits: the C_56 summary
# mixes numbers and group names.
EXACT = ("c56_summary.tsv",)


def analyze(df: pd.DataFrame, *, alpha_step: float = 0.001, n_boot: int = 1000, seed: int = 0,
            layout: Layout = WORKFLOW, metrics=None, win_rates: bool = False) -> dict:
    """The whole analysis of a table: {output file name: table (or the summary's dict)}.

    `metrics`: the score columns (default: the workflow's, score_columns). The alpha sweep, the best
    alphas and C_56 need S5 and S6: without them those files are not made, and summary.json says
    so. `win_rates`: also win_rates.tsv (how often each score beats each other across groups) and
    a `wins` column in the leaderboard (the share of groups in which it has the best weighted tau).
    picks.tsv holds, per group and score, the model the score would choose and its regret (picks).
    """
    df = with_pooled(df, layout)
    metrics = score_columns(df) if metrics is None else list(metrics)
    checked = check_table(df, metrics, layout)
    df, missing = checked.df, checked.missing
    corr = correlations(df, metrics, n_boot=n_boot, seed=seed, layout=layout, missing=missing)
    swept = "S5" in metrics and "S6" in metrics
    if swept:
        sweep = alpha_sweep(df, alpha_step, metrics, layout, missing)
        best = best_alphas(sweep)
        scored, ranked = with_c56(df, sweep, layout), [*metrics, *C56]
        missing = with_c56_missing(missing)
    else:
        scored, ranked = df, metrics
    board = leaderboard(scored, ranked, n_boot=n_boot, seed=seed, layout=layout, missing=missing)
    summary = {"n_rows": len(df), "n_groups": sum(1 for _ in groups(df, layout))}
    for column, key in (("arch", "architectures"), ("target", "targets")):
        if column in df.columns:
            summary[key] = sorted(df[column].astype(str).unique())
    if swept:
        c = best.set_index("pair").loc["C_56"]
        summary.update({
            "c56": {"best_alpha": c.best_alpha, "mean_rho": c.mean_rho, "variance": c.variance, "min_rho": c.min_rho,
                    "max_rho": c.max_rho, "leave_one_group_out_rho": c.logo_rho},
            "paper_c56": PAPER_C56,
            "best_pair": best.loc[best.mean_rho.idxmax(), "pair"] if best.mean_rho.notna().any() else None})
    else:
        summary["alpha_sweep"] = "not made: the alpha sweep and C_56 combine the paper's S5 and S6, which the table lacks"
    summary.update({"mean_rho_by_metric": corr.groupby("metric").rho.mean().to_dict() if len(corr) else {},
                    "leaderboard_by_weighted_tau": board.score.tolist()})
    na = not_applicable(scored, ranked, layout, missing)
    if na:  # only where some score does not apply to some model
        summary["not_applicable"] = na
    summary.update(_left_out(df, ranked, layout, missing, checked))
    if layout != WORKFLOW:
        summary["layout"] = layout.describe()
    out = {"correlations.tsv": corr}
    if swept:
        out.update({"alpha_sweep.tsv": sweep, "best_alpha.tsv": best, "c56_summary.tsv": c56_summary(best)})
    if win_rates:
        board, out["win_rates.tsv"] = _with_wins(board, scored, ranked, layout, missing)
    out["picks.tsv"] = picks(scored, board.score, layout, missing)
    return {**out, "leaderboard.tsv": board, "summary.json": _plain(summary)}


def _left_out(df: pd.DataFrame, metrics, layout: Layout, missing: pd.DataFrame, checked: Checked) -> dict:
    """What summary.json says was left out, only where something was: groups of too few models,
    rows without a ground truth, and per score the models without a value ({score: {group: n}})
    and the groups where too few have one."""
    out = {}
    if checked.skipped_groups:
        out["groups_skipped"] = {g: f"{len(m)} model(s) with a ground truth, fewer than {MIN_MODELS}: {', '.join(m)}"
                                 for g, m in checked.skipped_groups.items()}
    if checked.no_truth:
        out["rows_without_truth"] = checked.no_truth
    counts, too_few = {}, {}
    for m in metrics:
        for name, pos in groups(df, layout):
            n = int(missing[m].to_numpy()[pos].sum()) if m in missing else 0
            if n:
                counts.setdefault(m, {})[name] = n
                if len(pos) - n < MIN_MODELS:
                    too_few.setdefault(m, []).append(name)
    if counts:
        out["models_without_value"] = counts
    if too_few:
        out["too_few_values"] = too_few
    return out


def group_measures(scored: pd.DataFrame, metrics, layout: Layout = WORKFLOW,
                   missing: pd.DataFrame | None = None) -> pd.DataFrame:
    """A row per (group, score): the weighted tau and Spearman rho of the oriented score with the
    ground truth, no bootstrap; NaN where the score ranks no models of the group (ranked_rows)."""
    acc = scored[layout.truth].to_numpy(np.float64)
    rows = []
    for name, pos in groups(scored, layout):
        for m in metrics:
            keep = ranked_rows(scored, m, pos, missing)
            if keep is None:
                rows.append({"group": name, "score": m, "weighted_tau": np.nan, "rho": np.nan})
                continue
            x, y = layout.direction(m) * scored[m].to_numpy(np.float64)[keep], acc[keep]
            rows.append({"group": name, "score": m, "weighted_tau": stats.weighted_tau(x, y),
                         "rho": float(stats.spearman_pairs(x[None, :], y[None, :])[0])})
    return pd.DataFrame(rows)


def picks(scored: pd.DataFrame, metrics, layout: Layout = WORKFLOW,
          missing: pd.DataFrame | None = None) -> pd.DataFrame:
    """A row per (group, score): the model the score would choose (its best oriented value), that
    model's ground truth, the group's best model by the ground truth, the regret (best truth less
    the chosen model's) and the group's mean truth (what a model drawn at random gets on average).

    Among models tied for the best score the one with the lowest truth is taken, so that a score
    constant over a group never looks lucky. The best model is sought among all the group's models,
    those the score has no value for included. Empty where the score ranks no models of the group
    (ranked_rows: not applicable there, or too few values)."""
    truth = scored[layout.truth].to_numpy(np.float64)
    models = scored[layout.model].astype(str).to_numpy()
    rows = []
    for name, pos in groups(scored, layout):
        best = pos[np.argmax(truth[pos])]  # the first of equal bests, in table order
        group = {"group": name, "best": models[best], "best_truth": truth[best], "mean_truth": truth[pos].mean()}
        for m in metrics:
            keep = ranked_rows(scored, m, pos, missing)
            if keep is None:
                rows.append({**group, "score": m, "picked": "", "picked_truth": np.nan, "regret": np.nan})
                continue
            x = layout.direction(m) * scored[m].to_numpy(np.float64)[keep]
            tied = keep[x == x.max()]
            chosen = tied[np.argmin(truth[tied])]
            rows.append({**group, "score": m, "picked": models[chosen], "picked_truth": truth[chosen],
                         "regret": truth[best] - truth[chosen]})
    columns = ["group", "score", "picked", "picked_truth", "best", "best_truth", "regret", "mean_truth"]
    return pd.DataFrame(rows, columns=columns)


def with_c56_missing(missing: pd.DataFrame) -> pd.DataFrame:
    """The empty-cell mask with C_56's columns: a model without S5 or S6 has no C_56."""
    return missing.assign(**dict.fromkeys(C56, (missing.S5 | missing.S6).to_numpy()))


def _with_wins(board: pd.DataFrame, scored: pd.DataFrame, metrics, layout: Layout,
               missing: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leaderboard with each score's share of groups in which its weighted tau is the best (ties
    share the win), and the pairwise win rates across groups (replicates.win_rates, one replicate)."""
    from .replicates import win_rates

    cases = group_measures(scored, [m for m in metrics if m in set(board.score)], layout, missing).assign(replicate=0)
    wins, pairwise = win_rates(cases)
    return board.assign(wins=board.score.map(wins).fillna(0.0)), pairwise


def as_written(results: dict) -> dict:
    """analyze's tables as the files hold them: NOT_APPLICABLE, never an empty cell, where a pair
    C_ij uses a score that does not apply in a group (summary.json's "not_applicable": S5 and S6 of
    a zoo model whose probed layer has no zeros), in that group's column of the alpha sweep, in its
    mean where it applies in no group, and in the pair's best-alpha row and the C_56 summary then.
    An empty cell that is left means undefined (a score constant over a group has no rank
    correlation), never not applicable. The numbers are those of analyze, unchanged."""
    if "alpha_sweep.tsv" not in results:
        return results
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
