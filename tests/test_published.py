"""The published ground truths shipped in data/published/: complete, their ImageNet accuracies those
of torchvision's own metadata, and `basesel analyze` on TLlib's table giving its printed Pearson r
and weighted tau wherever the printed inputs determine them; every other difference is in the data
README with a verdict this test derives on its own (rounding, ties, or inconsistent)."""
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from basesel.science.analysis import Layout, analyze

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "published"
SCORES = ["HScore", "LEEP", "LogME", "NCE"]
TLLIB_MODELS = {"googlenet", "inception_v3", "resnet50", "resnet101", "resnet152", "densenet121", "densenet169",
                "densenet201", "mobilenet_v2", "mnasnet1_0"}


def text(name):
    return pd.read_csv(DATA / name, sep="\t", dtype=str, keep_default_na=False)


def test_tables_are_complete_and_name_torchvision_models():
    import torchvision

    tllib, sfda = text("tllib.tsv"), text("sfda.tsv")
    assert set(tllib.target) == {"aircraft", "caltech101", "cifar10", "cifar100", "dtd", "pets", "cars", "sun397"}
    assert set(sfda.target) == {"aircraft", "caltech101", "cars", "cifar10", "cifar100", "dtd", "flowers", "food",
                                "pets", "sun397", "voc2007"}
    for table, models in ((tllib, TLLIB_MODELS), (sfda, TLLIB_MODELS | {"resnet34"})):
        assert not table.duplicated(["target", "model"]).any()
        assert all(set(g.model) == models for _, g in table.groupby("target"))
        assert all(m in torchvision.models.list_models() for m in models)
        assert pd.to_numeric(table.accuracy).between(50, 100).all()
    # the only empty cells: DTD's NCE, whose printed column repeats LogME's (README)
    empty = [(r.target, c) for r in tllib.itertuples() for c in SCORES if getattr(r, c) == ""]
    assert set(empty) == {("dtd", "NCE")} and len(empty) == 10


def test_imagenet_top1_is_torchvisions_metadata_of_the_v1_weights():
    from torchvision.models import get_model_weights

    for name in ("tllib.tsv", "sfda.tsv"):
        table = text(name)
        for model, values in table.groupby("model").imagenet_top1:
            expected = get_model_weights(model).IMAGENET1K_V1.meta["_metrics"]["ImageNet-1K"]["acc@1"]
            assert set(values.astype(float)) == {expected}, (name, model)


def _decimals_half(cells):
    """Half a unit of each printed cell's last digit: the printed value stands for anything that close."""
    return np.array([0.5 * 10.0 ** -(len(c.split(".")[1]) if "." in c else 0) for c in cells])


def _tie_breaks(printed):
    """Every order the true values behind printed values can have: equal printed values in any order."""
    values = printed.astype(float)
    blocks = [idx for idx in (np.flatnonzero(values == v) for v in np.unique(values)) if len(idx) > 1]
    for perms in itertools.product(*[itertools.permutations(b) for b in blocks]):
        broken = values.copy()
        for block, perm in zip(blocks, perms):
            broken[list(perm)] += 1e-9 * np.arange(len(perm))
        yield broken


def weighted_tau_range(x_cells, y_cells):
    taus = [stats.weightedtau(x, y).statistic for x in _tie_breaks(np.array(x_cells, float))
            for y in _tie_breaks(np.array(y_cells, float))]
    return min(taus), max(taus)


def pearson_range(x_cells, y_cells):
    x, y = np.array(x_cells, float), np.array(y_cells, float)
    z0, half = np.r_[x, y], np.r_[_decimals_half(x_cells), _decimals_half(y_cells)]
    bounds = list(zip(z0 - half, z0 + half))
    n = len(x)

    def r(z):
        return stats.pearsonr(z[:n], z[n:]).statistic

    ends = []
    for sign in (1, -1):
        found = [optimize.minimize(lambda z: sign * r(z), start, bounds=bounds, method="L-BFGS-B").fun
                 for start in (z0, z0 - half, z0 + half)]
        ends.append(sign * min(found))
    return ends[0], ends[1]


def readme_differences():
    readme = (DATA / "README.md").read_text()
    block = readme.split("<!-- differences: checked by tests/test_published.py -->")[1].split("<!-- end of differences -->")[0]
    rows = {}
    for line in block.strip().splitlines()[2:]:
        target, score, measure, printed, ours, allowed, verdict = [c.strip() for c in line.strip("|").split("|")]
        lo, hi = (float(v) for v in allowed.split(" to "))
        rows[(target, score, measure)] = (float(printed), float(ours), lo, hi, verdict)
    return readme, rows


def test_analyze_gives_tllibs_printed_correlations_or_the_readme_says_why():
    table = pd.read_csv(DATA / "tllib.tsv", sep="\t")
    layout = Layout(model="model", groups=("target",), truth="accuracy")
    results = analyze(table, metrics=SCORES, layout=layout, n_boot=20)
    corr = results["correlations.tsv"].set_index(["target", "metric"])
    printed = pd.read_csv(DATA / "tllib_printed.tsv", sep="\t").set_index(["target", "score"])
    cells = text("tllib.tsv")
    readme, listed = readme_differences()
    expected, equal = {}, 0
    for (target, score), row in printed.iterrows():
        if (target, score) not in corr.index:
            assert (target, score) == ("dtd", "NCE")  # the column that is not NCE: left out, and said so
            continue
        g = cells[cells.target == target]
        for measure, column, ours in (("Pearson r", "pearson_r", corr.loc[(target, score), "pearson_r"]),
                                      ("weighted tau", "weighted_tau", corr.loc[(target, score), "weighted_tau"])):
            # the analysis against scipy on the printed numbers
            x, y = g[score].astype(float), g.accuracy.astype(float)
            direct = stats.pearsonr(x, y).statistic if column == "pearson_r" else stats.weightedtau(x, y).statistic
            assert ours == pytest.approx(direct, abs=1e-9)
            if round(ours, 3) == row[column]:
                equal += 1
                continue
            lo, hi = (pearson_range if column == "pearson_r" else weighted_tau_range)(g[score], g.accuracy)
            inside = lo - 5e-4 <= row[column] <= hi + 5e-4
            verdict = ("rounding" if column == "pearson_r" else "ties") if inside else "inconsistent"
            expected[(target, score, measure)] = (row[column], round(ours, 3), round(lo, 3), round(hi, 3), verdict)
    assert set(listed) == set(expected), "README rows to add or remove:\n" + "\n".join(
        f"| {t} | {s} | {m} | {v[0]:.3f} | {v[1]:.3f} | {v[2]:.3f} to {v[3]:.3f} | {v[4]} |"
        for (t, s, m), v in sorted(expected.items()) if (t, s, m) not in listed)
    for key, (p, ours, lo, hi, verdict) in expected.items():
        assert listed[key][0] == p and listed[key][1] == pytest.approx(ours, abs=1e-9), key
        assert listed[key][2:4] == pytest.approx((lo, hi), abs=1.5e-3), key  # optimiser tolerance
        assert listed[key][4] == verdict, key
    assert f"the other\n{equal} of the 62 printed values" in readme
    summary = results["summary.json"]
    assert summary["models_without_value"] == {"NCE": {"dtd": 10}}


def test_both_tables_analysed_with_imagenet_accuracy_as_a_task_agnostic_score():
    for name, scores in (("tllib.tsv", [*SCORES, "imagenet_top1"]), ("sfda.tsv", ["imagenet_top1"])):
        table = pd.read_csv(DATA / name, sep="\t")
        results = analyze(table, metrics=scores, layout=Layout(model="model", groups=("target",)), n_boot=20,
                          win_rates=True)
        board = results["leaderboard.tsv"].set_index("score")
        assert board.loc["imagenet_top1", "kind"] == "task-agnostic"
        assert board.loc["imagenet_top1", "groups_defined"] == table.target.nunique()
        by_target = [stats.weightedtau(g.imagenet_top1, g.accuracy).statistic for _, g in table.groupby("target")]
        assert board.loc["imagenet_top1", "mean_weighted_tau"] == pytest.approx(np.mean(by_target))
        assert len(results["win_rates.tsv"]) == len(scores) * (len(scores) - 1)  # every ordered pair, every target


def test_the_reports_published_section_is_what_the_tables_say(tmp_path):
    """The published rule's outputs are the files science.published.benchmarks returns, and its
    tables are analyze's on the shipped files: SFDA's printed taus beside ImageNet accuracy's,
    their means; the two ground truths' agreement against scipy on the merged accuracies."""
    from helpers import TINY, planned_jobs

    from basesel.science.published import benchmarks

    tables = benchmarks(DATA, n_boot=20)
    plan = planned_jobs(tmp_path, TINY, "results/published/tllib/leaderboard.tsv")
    assert {p.removeprefix("results/published/") for p in plan.outputs} == set(tables)
    printed = tables["sfda/printed.tsv"].set_index("target")
    raw = pd.read_csv(DATA / "sfda_printed.tsv", sep="\t").pivot(index="target", columns="score", values="weighted_tau")
    assert printed.loc["mean", "SFDA"] == pytest.approx(raw.SFDA.mean())
    sfda = pd.read_csv(DATA / "sfda.tsv", sep="\t")
    for target, g in sfda.groupby("target"):
        assert printed.loc[target, "imagenet_top1"] == pytest.approx(stats.weightedtau(g.imagenet_top1, g.accuracy).statistic)
    tllib = pd.read_csv(DATA / "tllib.tsv", sep="\t")
    agreement = tables["agreement/correlations.tsv"].set_index("target")
    assert len(agreement) == 8
    for target, g in tllib.groupby("target"):
        other = sfda[sfda.target == target].set_index("model").accuracy[g.model]
        assert agreement.loc[target, "weighted_tau"] == pytest.approx(stats.weightedtau(other.to_numpy(), g.accuracy).statistic)
