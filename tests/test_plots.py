"""Every figure against the table it draws: its panels, and the values of its series."""
import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from PIL import Image

from basesel import plots
from basesel.science.analysis import alpha_sweep, best_alphas, correlations, leaderboard
from basesel.science.experiments import TRACKED, standardise
from basesel.science.featuremap_scores import METRICS

matplotlib.use("Agg")
ARCHS, TARGETS, SOURCES = ("alexnet", "resnet18"), ("t1", "t2", "t3"), [f"s{i}" for i in range(5)]


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    rows = [{"arch": a, "source": s, "target": t, **{m: float(rng.uniform(0.1, 5)) for m in METRICS},
             "LogME": float(rng.normal()), "accuracy": float(rng.uniform())}
            for a, s, t in itertools.product(ARCHS, SOURCES, TARGETS)]
    return pd.DataFrame(rows)


def bars(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_figure2_draws_each_rho(table):
    corr = correlations(table, n_boot=20)
    fig = plots.figure2(corr)
    assert [ax.get_title() for ax in fig.axes[:2]] == list(ARCHS)
    for ax, arch in zip(fig.axes, ARCHS):
        containers = bars(ax)
        assert [c.get_label() for c in containers] == list(METRICS)
        for container, m in zip(containers, METRICS):
            expected = corr[(corr.arch == arch) & (corr.metric == m)].set_index("target").rho.reindex(TARGETS)
            np.testing.assert_allclose([p.get_height() for p in container.patches], expected)
    plots.plt.close(fig)


def test_figure3_draws_every_group_and_the_mean(table):
    sweep = alpha_sweep(table, 0.05)
    best = best_alphas(sweep)
    fig = plots.figure3(sweep, best)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 15
    for ax, pair in zip(visible, dict.fromkeys(sweep.pair)):
        frame = sweep[sweep.pair == pair]
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) >= {"mean", *(f"{a}/{t}" for a, t in itertools.product(ARCHS, TARGETS))}
        np.testing.assert_allclose(lines["mean"].get_ydata(), frame["mean"])
        np.testing.assert_allclose(lines["resnet18/t2"].get_ydata(), frame["resnet18/t2"])
        assert f"best a={best.set_index('pair').loc[pair, 'best_alpha']:.3f}" in ax.get_title()
    plots.plt.close(fig)


def test_leaderboard_figure_draws_each_score(table):
    board = leaderboard(table, [*METRICS, "LogME"], n_boot=20)
    fig = plots.leaderboard_figure(board)
    fig.canvas.draw()
    for ax, col in zip(fig.axes, ("mean_weighted_tau", "mean_rho")):
        (container,) = bars(ax)
        widths = [p.get_width() for p in container.patches]
        np.testing.assert_allclose(widths, board[col].iloc[::-1])
    # one row per score, the best at the top (the second panel shares the first's labels)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == board.score.iloc[::-1].tolist()
    plots.plt.close(fig)


def test_scores_and_finetune_views(table):
    fig = plots.scores_vs_accuracy(table, "resnet18")
    assert [ax.get_title() for ax in fig.axes] == list(METRICS)
    sub = table[table.arch == "resnet18"]
    for ax, m in zip(fig.axes, METRICS):
        points = np.concatenate([c.get_offsets() for c in ax.collections])
        expected = np.concatenate([rows[[m, "accuracy"]].to_numpy() for _, rows in sub.groupby("target")])
        np.testing.assert_allclose(points, expected)
    plots.plt.close(fig)
    fig = plots.finetune_heatmap(table)
    for ax, arch in zip(fig.axes, ARCHS):
        pivot = table[table.arch == arch].pivot(index="source", columns="target", values="accuracy")
        np.testing.assert_allclose(ax.get_images()[0].get_array(), pivot.to_numpy())
    plots.plt.close(fig)


def test_pretraining_and_figure1_curves():
    epochs = np.arange(1, 6)
    logs = {s: pd.DataFrame({"epoch": epochs, "train_loss": 3 - 0.1 * epochs * (i + 1), "val_acc": 0.1 * epochs})
            for i, s in enumerate(("cw4-0", "hz2-1"))}
    fig = plots.pretraining_curves(logs, "vgg16")
    for ax, col in zip(fig.axes, ("train_loss", "val_acc")):
        assert [line.get_label() for line in ax.get_lines()] == list(logs)
        for line, log in zip(ax.get_lines(), logs.values()):
            np.testing.assert_allclose(line.get_ydata(), log[col])
    plots.plt.close(fig)
    rng = np.random.default_rng(1)
    curves = pd.DataFrame({"epoch": epochs, "val_acc": np.linspace(0.2, 0.8, 5), **{m: rng.normal(size=5) for m in TRACKED}})
    corr = pd.DataFrame({"arch": "resnet18", "metric": list(TRACKED), "rho": np.linspace(-1, 1, len(TRACKED))})
    fig = plots.figure1({"resnet18": curves}, corr)
    ax, right = fig.axes
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), curves.val_acc)
    drawn = [line for line in right.get_lines() if line.get_label() != "_child1" and len(line.get_xdata()) == 5]
    assert len(drawn) == len(TRACKED)
    for line, m, rho in zip(drawn, TRACKED, corr.rho):
        np.testing.assert_allclose(line.get_ydata(), standardise(curves[m]))
        assert f"rho {rho:+.2f}" in line.get_label()
    plots.plt.close(fig)


def test_figures_4_and_5():
    rng = np.random.default_rng(2)
    table = pd.DataFrame([{"arch": "resnet18", "target": t, "layer": k, "accuracy": float(rng.uniform())}
                          for t in TARGETS for k in range(17)])
    fig = plots.figure4(table)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in TARGETS]
    assert [line.get_label() for line in lines] == list(TARGETS)
    for line, t in zip(lines, TARGETS):
        np.testing.assert_allclose(line.get_xdata(), range(17))
        np.testing.assert_allclose(line.get_ydata(), table[table.target == t].accuracy)
    plots.plt.close(fig)
    corr = pd.DataFrame([{"arch": "resnet18", "target": t, "metric": m, "rho": float(rng.uniform(-1, 1)),
                          "layers": 17} for t in TARGETS for m in METRICS])
    fig = plots.figure5(corr)
    for container, m in zip(bars(fig.axes[0]), METRICS):
        np.testing.assert_allclose([p.get_height() for p in container.patches],
                                   corr[corr.metric == m].set_index("target").rho.reindex(TARGETS))
    assert "across 17 conv layers" in fig.axes[0].get_title()
    plots.plt.close(fig)


def test_data_montage_and_rank_figure(tmp_path):
    indexes = {}
    for name, classes in (("source", 4), ("t1", 2)):
        rows = []
        for c in range(classes):
            path = tmp_path / f"{name}{c}.png"
            Image.fromarray(np.full((8, 8, 3), 40 * c, np.uint8)).save(path)
            rows.append({"split": "train", "class": f"c{c}", "label": c, "path": str(path)})
        indexes[name] = pd.DataFrame(rows)
    fig = plots.data_montage(indexes, per_dataset=3, thumb=8)
    assert len(fig.axes) == 2 and [ax.get_ylabel() for ax in fig.axes] == ["source\n4 cl.", "t1\n2 cl."]
    assert fig.axes[0].get_images()[0].get_array().shape == (8, 24, 3)
    plots.plt.close(fig)
    ranked = pd.DataFrame({"model": ["a", "b"], "S5": [0.1, 0.3]})
    fig = plots.rank_figure(ranked, "S5")
    (container,) = bars(fig.axes[0])
    assert [p.get_width() for p in container.patches] == [0.3, 0.1]
    assert "smaller is better" in fig.axes[0].get_xlabel()
    plots.plt.close(fig)
    plots.save(fig, tmp_path / "x.svg")
    assert (tmp_path / "x.svg").read_text().lstrip().startswith("<?xml")
