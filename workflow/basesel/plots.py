"""Figures: the paper's Figures 1 to 5, and views of the data, pretraining, scores and fine-tuning.

Every function builds a figure from a table and returns it (tests read its panels and series);
`save` writes it under a temporary name and closes it.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from .io import atomic_path  # noqa: E402
from .science.featuremap_scores import C56, DIRECTION, METRICS, as_numbers  # noqa: E402

METRIC_COLOURS = dict(zip(METRICS, plt.get_cmap("tab10").colors))
ARCH_STYLES = {"alexnet": "-", "vgg16": ":", "resnet18": "--"}


def save(fig, path) -> None:
    """Write a figure (format from the suffix) under a temporary name, then close it."""
    suffix = "." + str(path).rsplit(".", 1)[-1]
    with atomic_path(path, suffix) as tmp:
        fig.savefig(tmp, format=suffix[1:], bbox_inches="tight", dpi=110)
    plt.close(fig)


def data_montage(indexes: dict[str, pd.DataFrame], per_dataset: int = 12, seed: int = 0, thumb: int = 48):
    """A row of training images per dataset, from different classes."""
    fig, axes = plt.subplots(len(indexes), 1, figsize=(per_dataset * 0.75, 0.95 * len(indexes)), squeeze=False)
    for ax, (name, index) in zip(axes[:, 0], indexes.items()):
        train = index[index.split == "train"]
        classes = train["class"].unique()
        rng = np.random.default_rng(seed)
        chosen = classes[np.linspace(0, len(classes) - 1, per_dataset).round().astype(int)]
        picks = [train.path[train["class"] == c].iloc[int(rng.integers((train["class"] == c).sum()))] for c in chosen]
        tiles = [np.asarray(Image.open(p).convert("RGB").resize((thumb, thumb))) for p in picks]
        ax.imshow(np.concatenate(tiles, axis=1))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"{name}\n{len(classes)} cl.", rotation=0, ha="right", va="center", fontsize=8)
    return fig


def pretraining_curves(logs: dict[str, pd.DataFrame], arch: str):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    cmap = plt.get_cmap("viridis")
    for i, (subset, log) in enumerate(logs.items()):
        c = cmap(i / max(1, len(logs) - 1))
        ax1.plot(log.epoch, log.train_loss, color=c, label=subset)
        ax2.plot(log.epoch, log.val_acc, color=c, label=subset)
    ax1.set(xlabel="epoch", ylabel="training loss", title=f"{arch}: training loss")
    ax2.set(xlabel="epoch", ylabel="validation top-1", title=f"{arch}: validation accuracy (own subset's classes)")
    ax2.legend(fontsize=6, ncol=2, loc="best")
    return fig


def scores_vs_accuracy(table: pd.DataFrame, arch: str):
    """One panel per metric: each target's base models, metric against fine-tuned accuracy (a model
    a metric does not apply to has no point in its panel)."""
    df = table[table.arch == arch].copy()
    df[list(METRICS)] = as_numbers(df[list(METRICS)])
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.1 * len(METRICS), 3))
    for ax, m in zip(axes, METRICS):
        for t, rows in df.groupby("target"):
            ax.scatter(rows[m], rows.accuracy, s=14, label=t)
        ax.set(xlabel=f"{m} ({'larger' if DIRECTION[m] > 0 else 'smaller'} is better)", title=m)
        if np.all(df[m] > 0) and df[m].max() / max(df[m].min(), 1e-300) > 100:
            ax.set_xscale("log")
    axes[0].set_ylabel("fine-tuned top-1")
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"{arch}: scores against fine-tuned accuracy, one point per base model")
    return fig


def finetune_heatmap(table: pd.DataFrame):
    archs = list(dict.fromkeys(table.arch))
    fig, axes = plt.subplots(1, len(archs), figsize=(4 * len(archs), 0.28 * table.source.nunique() + 1.5), squeeze=False)
    for ax, arch in zip(axes[0], archs):
        pivot = table[table.arch == arch].pivot(index="source", columns="target", values="accuracy")
        im = ax.imshow(pivot.to_numpy(), aspect="auto", cmap="magma", vmin=0, vmax=1)
        ax.set_xticks(range(pivot.shape[1]), pivot.columns, rotation=30, fontsize=8)
        ax.set_yticks(range(pivot.shape[0]), pivot.index, fontsize=7)
        for (r, c), v in np.ndenumerate(pivot.to_numpy()):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if v < 0.6 else "black")
        ax.set_title(arch)
    fig.colorbar(im, ax=axes[0].tolist(), label="fine-tuned top-1")
    return fig


def _rho_bars(corr: pd.DataFrame, title, intervals: bool, width_per_panel: float):
    """Grouped bars of each metric's Spearman rho per target, a panel per architecture: Figure 2
    (rho across base models, with its bootstrap interval) and Figure 5 (rho across layers)."""
    archs = list(dict.fromkeys(corr.arch))
    fig, axes = plt.subplots(1, len(archs), figsize=(width_per_panel * len(archs) + (0 if intervals else 1), 3.4),
                             squeeze=False, sharey=True)
    for ax, arch in zip(axes[0], archs):
        sub = corr[corr.arch == arch]
        targets = list(dict.fromkeys(sub.target))
        width = 0.8 / len(METRICS)
        for k, m in enumerate(METRICS):
            rows = sub[sub.metric == m].set_index("target").reindex(targets)
            x = np.arange(len(targets)) + (k - (len(METRICS) - 1) / 2) * width
            if intervals:
                err = np.vstack([rows.rho - rows.rho_lo, rows.rho_hi - rows.rho]).clip(min=0)
                ax.bar(x, rows.rho, width, color=METRIC_COLOURS[m], label=m, yerr=err,
                       error_kw={"lw": 0.6, "capsize": 1})
            else:
                ax.bar(x, rows.rho.fillna(0), width, color=METRIC_COLOURS[m], label=m)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(range(len(targets)), targets, rotation=20, fontsize=8)
        ax.set(ylim=(-1.05, 1.05), title=title(arch, sub))
    axes[0, 0].set_ylabel("Spearman rho (metric, accuracy)")
    axes[0, -1].legend(fontsize=7, ncol=3)
    return fig, axes


def figure2(corr: pd.DataFrame):
    """Spearman rho between each metric and accuracy, per target, one panel per architecture."""
    return _rho_bars(corr, lambda arch, sub: arch, intervals=True, width_per_panel=4.5)[0]


def figure3(sweep: pd.DataFrame, best: pd.DataFrame):
    """rho of C_ij(alpha) against alpha, a line per (arch, target), a panel per pair."""
    pairs = list(dict.fromkeys(sweep.pair))
    group_cols = [c for c in sweep.columns if c not in ("pair", "alpha", "mean")]
    # cells of a pair that does not apply in a group are marked in the files; nothing to draw there
    sweep = sweep.assign(**as_numbers(sweep[[*group_cols, "mean"]]))
    best = best.assign(best_alpha=as_numbers(best[["best_alpha"]]).best_alpha)
    targets = sorted({g.split("/", 1)[1] for g in group_cols})
    colours = dict(zip(targets, plt.get_cmap("tab10").colors))
    cols = 5
    rows = int(np.ceil(len(pairs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False, sharex=True, sharey=True)
    best = best.set_index("pair")
    for ax, pair in zip(axes.flat, pairs):
        frame = sweep[sweep.pair == pair]
        for g in group_cols:
            arch, target = g.split("/", 1)
            ax.plot(frame.alpha, frame[g], ARCH_STYLES.get(arch, "-"), color=colours[target], lw=0.9, label=g)
        ax.plot(frame.alpha, frame["mean"], color="black", lw=1.6, label="mean")
        alpha = best.loc[pair, "best_alpha"]
        if np.isfinite(alpha):
            ax.axvline(alpha, color="grey", lw=0.6)
        i, j = pair[2], pair[3]
        ax.set_title(f"(1-a)*S{i} + a*S{j}  " + (f"best a={alpha:.3f}" if np.isfinite(alpha) else "not applicable"),
                     fontsize=8)
        ax.axhline(0, color="black", lw=0.4)
    for ax in axes[-1]:
        ax.set_xlabel("alpha")
    for ax in axes[:, 0]:
        ax.set_ylabel("Spearman rho")
    for ax in axes.flat[len(pairs):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=7, bbox_to_anchor=(0.5, -0.06))
    return fig


KIND_COLOURS = {"paper": "tab:orange", "baseline": "tab:blue", "proxy": "tab:green", "task-agnostic": "tab:grey"}


def leaderboard_figure(board: pd.DataFrame):
    """Every score's mean weighted tau and mean rho over (architecture, target) groups, with intervals."""
    board = board.iloc[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.32 * len(board) + 1.4), sharey=True)
    for ax, col, lo, hi, title in ((axes[0], "mean_weighted_tau", "wtau_lo", "wtau_hi", "mean weighted Kendall tau"),
                                   (axes[1], "mean_rho", "rho_lo", "rho_hi", "mean Spearman rho")):
        err = np.vstack([board[col] - board[lo], board[hi] - board[col]]).clip(min=0)
        ax.barh(board.score, board[col], xerr=err, color=[KIND_COLOURS[k] for k in board.kind],
                error_kw={"lw": 0.7, "capsize": 2})
        ax.axvline(0, color="black", lw=0.6)
        ax.set(xlim=(-1, 1), title=title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in KIND_COLOURS.values()]
    axes[1].legend(handles, [f"{k} score" for k in KIND_COLOURS], fontsize=7, loc="lower right")
    fig.suptitle("Scores oriented so that larger is better; 95% bootstrap intervals over base models", fontsize=9)
    return fig


def figure1(logs: dict[str, pd.DataFrame], corr: pd.DataFrame):
    """Validation accuracy (left axis) and S1..S6 and the feature norm standardised over the epochs
    (right axis: mean 0, variance 1, as the paper plots them), a panel per architecture; the legend
    gives each metric's Spearman rho with validation accuracy across epochs."""
    from .science.experiments import TRACKED, standardise

    archs = list(logs)
    fig, axes = plt.subplots(1, len(archs), figsize=(6 * len(archs), 4.2), squeeze=False)
    fig.subplots_adjust(wspace=0.45)
    colours = {**METRIC_COLOURS, "feature_norm": "grey"}
    for ax, arch in zip(axes[0], archs):
        log = logs[arch]
        rho = corr[corr.arch == arch].set_index("metric").rho if len(corr) else pd.Series(dtype=float)
        ax.plot(log.epoch, log.val_acc, color="black", lw=2.2, marker="o", ms=3, label="validation accuracy")
        ax.set(xlabel="epoch", ylabel="validation top-1", title=f"{arch}: whole source pool")
        right = ax.twinx()
        for m in TRACKED:
            style = {"ls": "--", "lw": 1.4} if m == "feature_norm" else {"ls": "-", "lw": 1.0, "marker": "x", "ms": 3}
            r = rho.get(m, np.nan)
            name = "feature norm" if m == "feature_norm" else m
            right.plot(log.epoch, standardise(log[m]), color=colours[m],
                       label=f"{name} (rho {r:+.2f})" if np.isfinite(r) else f"{name} (rho n/a)", **style)
        right.set_ylabel("standardised (mean 0, variance 1)")
        right.axhline(0, color="black", lw=0.4)
        handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
        ax.legend(handles, labels, fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.16))
        if len(log) <= 12:
            ax.set_xticks(log.epoch)
    return fig


def figure4(table: pd.DataFrame):
    """Truncate fine-tuning accuracy against the conv layer index the network is cut after, a line
    per target, a panel per architecture; a star marks each target's best layer."""
    archs = list(dict.fromkeys(table.arch))
    fig, axes = plt.subplots(1, len(archs), figsize=(6 * len(archs), 3.6), squeeze=False, sharey=True)
    for ax, arch in zip(axes[0], archs):
        sub = table[table.arch == arch]
        for i, (target, rows) in enumerate(sub.groupby("target", sort=False)):
            rows = rows.sort_values("layer")
            c = plt.get_cmap("tab10").colors[i % 10]
            ax.plot(rows.layer, rows.accuracy, marker="o", ms=3, color=c, label=target)
            best = rows.loc[rows.accuracy.idxmax()]
            ax.plot(best.layer, best.accuracy, marker="*", ms=11, color=c, mec="black", mew=0.5)
        layers = sorted(sub.layer.unique())
        ax.set_xticks(layers)
        ax.set(xlabel="conv layer index (network cut after it)", ylim=(0, 1.02), title=f"{arch}: truncate fine-tuning")
    axes[0, 0].set_ylabel("top-1 test accuracy")
    axes[0, -1].legend(fontsize=7, loc="best")
    return fig


def figure5(corr: pd.DataFrame):
    """Spearman rho between each raw metric and truncate fine-tuning accuracy across layers, per
    target, one panel per architecture (grouped bars, as the paper's Figure 5; the dotted lines
    are the paper's |rho| = 0.7)."""
    def title(arch, sub):
        return f"{arch}: across {int(sub.layers.max()) if len(sub) else 0} conv layers"

    fig, axes = _rho_bars(corr, title, intervals=False, width_per_panel=4.5)
    for ax in axes[0]:
        ax.axhline(0.7, color="grey", lw=0.5, ls=":")
        ax.axhline(-0.7, color="grey", lw=0.5, ls=":")
    return fig


def rank_figure(table: pd.DataFrame, by: str):
    """`basesel rank`'s candidates as bars of the score they are ranked by, best at the top."""
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(table) + 1.2))
    ax.barh(table.model[::-1], table[by][::-1], color="tab:blue")
    ax.set_xlabel(by + (" (smaller is better)" if DIRECTION.get(by, 1) < 0 else " (larger is better)"))
    ax.set_title(f"candidates ranked by {by}")
    return fig


def cost_figure(board: pd.DataFrame, costs: pd.DataFrame):
    """Each score's mean weighted tau (leaderboard) against its mean cost per (base model, target), on
    a log scale, beside the cost of the fine-tuning it would spare (costs.py). The task-agnostic
    baselines cost nothing measurable and are left out."""
    from .science.costs import FINETUNE

    seconds = costs.groupby("score").seconds.mean()
    for name in C56:  # the combination is computed from S1..S6: their cost
        seconds[name] = seconds.get("S1", np.nan)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    shown = board[board.score.isin(seconds.index)]
    for kind, rows in shown.groupby("kind"):
        ax.scatter(seconds[rows.score], rows.mean_weighted_tau, color=KIND_COLOURS[kind], label=f"{kind} score",
                   zorder=3)
    for row in shown.itertuples():
        ax.annotate(row.score, (seconds[row.score], row.mean_weighted_tau), fontsize=6, xytext=(3, 2),
                    textcoords="offset points")
    if FINETUNE in seconds:
        ax.axvline(seconds[FINETUNE], color="black", ls="--", lw=1,
                   label=f"fine-tuning one pair ({seconds[FINETUNE]:.2g} s)")
    ax.set_xscale("log")
    ax.set(xlabel="seconds per (base model, target): the score plus its forward pass",
           ylabel="mean weighted Kendall tau", ylim=(-1, 1))
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def replicates_figure(summary: pd.DataFrame):
    """Every score's mean weighted tau in each replicate (dots) and over replicates (bar, with the
    range), best first: how much of the leaderboard survives a new seed."""
    board = summary.iloc[::-1]
    reps = sorted(int(c.rsplit("_r", 1)[1]) for c in summary.columns if c.startswith("weighted_tau_r"))
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(board) + 1.4))
    y = np.arange(len(board))
    err = np.vstack([board.mean_weighted_tau - board.min_weighted_tau, board.max_weighted_tau - board.mean_weighted_tau])
    ax.barh(y, board.mean_weighted_tau, xerr=err.clip(min=0), color="tab:blue", alpha=0.4,
            error_kw={"lw": 0.7, "capsize": 2}, label="mean over replicates (range)")
    for k in reps:
        ax.plot(board[f"weighted_tau_r{k}"], y, "o", ms=3, label=f"replicate {k}")
    ax.set_yticks(y, board.score, fontsize=7)
    ax.axvline(0, color="black", lw=0.6)
    ax.set(xlim=(-1, 1), xlabel="mean weighted Kendall tau over (architecture, target) groups",
           title=f"every score over {len(reps)} replicates")
    ax.legend(fontsize=7, loc="lower right")
    return fig


# The figures one table or two make, by name: the `plot` script draws one from its rule's named
# inputs (the same names as the function's arguments) and parameters (plots.smk).
FIGURES = {"scores_vs_accuracy": scores_vs_accuracy, "finetune_heatmap": finetune_heatmap, "figure2": figure2,
           "figure3": figure3, "figure5": figure5, "leaderboard_figure": leaderboard_figure, "cost_figure": cost_figure,
           "replicates_figure": replicates_figure}
