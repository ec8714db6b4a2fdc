"""The paper's Figure 1 (scores during training) and Appendix A.2 (layer selection): conv layers and
their truncation against hand-built forwards, the last layer against the main workflow's probe,
per-epoch scores surviving a resume, the statistics, and the DAG branch they add."""
import re
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats
from torch import nn

from basesel import synthetic
from basesel.config import ConfigError, check_config
from basesel.curves import ScoreTracker, feature_norm, probe_scores, source_probe
from basesel.data import index_dataset, load_image, normalise, probe_rows
from basesel.experiments import TRACKED, correlation, curve_correlations, layer_correlations, standardise
from basesel.featuremaps import extract
from basesel.finetune import finetune_head
from basesel.io import BaseselError
from basesel.layers import LayerTap, conv_layers, extract_layers, fit_head, read_layers, truncate_finetune
from basesel.models import ArchSpec, FeatureTap, build_model, load_checkpoint
from basesel.scores import METRICS, paper_scores, scores_from_h5
from basesel.training import Schedule, fit
from test_workflow import ROOT, TINY, dry_jobs, smk, with_changes

CPU = torch.device("cpu")
NEW_RULES = {"pretrain_whole", "curve_correlations", "plot_figure1", "layer_features", "layer_selection",
             "layer_correlations", "plot_figure4", "plot_figure5"}
NEW_TARGETS = ("results/plots/figure1.svg", "results/plots/figure4.svg", "results/plots/figure5.svg")


def trained_bn(model, size, seed=0):
    """Give batch-norm layers non-trivial running statistics, then switch to eval mode."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, size, size, generator=g) * 2 + 0.5)
    return model.eval()


# --- conv layers and truncation ------------------------------------------------------------------

@pytest.mark.parametrize("arch,count", [("alexnet", 5), ("vgg16", 13), ("resnet18", 17)])
@pytest.mark.parametrize("width,size", [(1.0, 224), (0.125, 64)])
def test_conv_layer_count(arch, count, width, size):
    model = build_model(ArchSpec(arch, width, size, 10))
    layers = conv_layers(model, arch)
    assert [layer.index for layer in layers] == list(range(1, count + 1))
    # every convolution on the main path, in forward order; ResNet's 1x1 shortcut convs are not counted
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and ".downsample" not in n]
    assert [layer.conv for layer in layers] == convs


@pytest.mark.parametrize("arch,width,size", [("alexnet", 0.25, 64), ("vgg16", 0.125, 32), ("resnet18", 0.25, 64)])
def test_last_layer_is_the_main_workflows_probe_layer(arch, width, size):
    torch.manual_seed(0)
    model = trained_bn(build_model(ArchSpec(arch, width, size, 10)), size)
    x = torch.randn(3, 3, size, size)
    with LayerTap(model, arch) as layers, FeatureTap(model, arch) as tap, torch.no_grad():
        model(x)
    last = len(layers.layers)
    assert torch.equal(layers.maps[last], tap.featuremap)
    assert all(m.min() >= 0 for m in layers.maps.values())  # every layer's output is after a ReLU


def test_resnet_layers_equal_a_manually_truncated_forward():
    torch.manual_seed(0)
    model = trained_bn(build_model(ArchSpec("resnet18", 0.25, 64, 10)), 64)
    x = torch.randn(4, 3, 64, 64)
    with LayerTap(model, "resnet18") as tap, torch.no_grad():
        logits = model(x)
    with torch.no_grad():
        stem = torch.relu(model.bn1(model.conv1(x)))  # layer 1: before the max-pool
        expected, h, k = {1: stem}, model.maxpool(stem), 2
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            for block in stage:
                expected[k] = torch.relu(block.bn1(block.conv1(h)))  # the block's conv1
                h = block(h)
                expected[k + 1] = h  # the block's conv2: its output after the residual add and ReLU
                k += 2
        truncated = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                                  model.layer1, model.layer2, model.layer3, model.layer4)
        avgpool_input_pooled = torch.flatten(model.avgpool(truncated(x)), 1)
    assert sorted(expected) == list(range(1, 18))
    for k, e in expected.items():
        torch.testing.assert_close(tap.maps[k], e)
        torch.testing.assert_close(tap.pooled[k], e.mean(dim=(2, 3)))
    torch.testing.assert_close(tap.pooled[17], avgpool_input_pooled)
    torch.testing.assert_close(model.fc(tap.pooled[17]), logits)


@pytest.mark.parametrize("arch,width,size,count", [("alexnet", 0.25, 64, 5), ("vgg16", 0.125, 32, 13)])
def test_sequential_layers_equal_truncated_features(arch, width, size, count):
    torch.manual_seed(0)
    model = build_model(ArchSpec(arch, width, size, 10)).eval()
    x = torch.randn(2, 3, size, size)
    with LayerTap(model, arch) as tap, torch.no_grad():
        model(x)
        relus = [i for i, m in enumerate(model.features) if isinstance(m, nn.ReLU)]
        assert len(relus) == count
        for k, i in enumerate(relus, 1):
            torch.testing.assert_close(tap.pooled[k], model.features[:i + 1](x).mean(dim=(2, 3)))
        if arch == "alexnet":
            torch.testing.assert_close(tap.pooled[5], model.features[:12](x).mean(dim=(2, 3)))


def test_layer_selection_of_indices():
    model = build_model(ArchSpec("alexnet", 0.25, 64, 10)).eval()
    with LayerTap(model, "alexnet", indices=[2, 5], maps=False) as tap, torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert sorted(tap.pooled) == [2, 5] and tap.maps == {}
    with pytest.raises(BaseselError, match="no layer 6"):
        LayerTap(model, "alexnet", indices=[6])


# --- layer files and truncate fine-tuning ---------------------------------------------------------

@pytest.fixture(scope="module")
def target(tmp_path_factory):
    root = tmp_path_factory.mktemp("t") / "shapes"
    synthetic.generate_target(root, kind="shape", seed=1, num_classes=3, train_per_class=6, test_per_class=3, size=64)
    return index_dataset(root, ("train", "test"))


@pytest.mark.parametrize("arch,width", [("resnet18", 0.125), ("alexnet", 0.125)])
def test_layer_file_and_scores_match_the_main_workflow(tmp_path, target, arch, width):
    spec = ArchSpec(arch, width, 64, 7)
    torch.manual_seed(0)
    model = trained_bn(build_model(spec), 64)
    table = extract_layers(model, spec, target, tmp_path / "layers.h5", probe_per_class=4, probe_seed=0, batch_size=5,
                           device=CPU, progress=False)
    extract(model, spec, target, tmp_path / "fm.h5", probe_per_class=4, probe_seed=0, batch_size=7, device=CPU,
            progress=False)
    n_layers = {"alexnet": 5, "resnet18": 17}[arch]
    assert table.layer.tolist() == list(range(1, n_layers + 1))
    # the last layer's S1..S6 are the main workflow's scores of the same model on the same probe set
    main = scores_from_h5(tmp_path / "fm.h5", baselines=[])
    last = table.iloc[-1]
    assert {m: last[m] for m in METRICS} == pytest.approx({m: main[m] for m in METRICS}, rel=1e-9)
    with h5py.File(tmp_path / "fm.h5") as f:
        fm, labels, probe, feats = f["featuremaps"][:], f["labels"][:], f["probe_index"][:], f["features"][:]
    assert {m: last[m] for m in METRICS} == pytest.approx(paper_scores(fm.astype(np.float64), labels), rel=1e-9)
    # every layer's scores: a direct forward of the probe images, one layer map at a time
    train = target[target.split == "train"].reset_index(drop=True)
    x = torch.stack([load_image(p, 64) for p in train.path.iloc[probe]])
    with LayerTap(model, arch) as tap, torch.no_grad():
        model(normalise(x))
    for row in table.itertuples():
        direct = paper_scores(tap.maps[row.layer].numpy().astype(np.float64), labels)
        assert {m: getattr(row, m) for m in METRICS} == pytest.approx(direct, rel=1e-6)
        assert (row.channels, row.height, row.width) == tuple(tap.maps[row.layer].shape[1:])
    scores, data = read_layers(tmp_path / "layers.h5")
    pd.testing.assert_frame_equal(scores, table[scores.columns])
    with h5py.File(tmp_path / "layers.h5") as f:
        assert (f["probe_index"][:] == probe).all() and (f["labels"][:] == labels).all()
        assert f.attrs["arch"] == arch and list(f.attrs["layers"]) == list(range(1, n_layers + 1))
    (xtr, ytr), (xte, yte) = data[n_layers]
    assert len(ytr) == 18 and len(yte) == 9
    if arch == "resnet18":  # the last layer's GAP features are the head's input, the penultimate features
        np.testing.assert_allclose(np.concatenate([xtr, xte]), feats, rtol=1e-5, atol=1e-6)


def test_truncate_finetune_trains_a_head_per_layer_like_finetune_head(tmp_path, target):
    spec = ArchSpec("resnet18", 0.125, 64, 7)
    torch.manual_seed(0)
    model = trained_bn(build_model(spec), 64)
    extract_layers(model, spec, target, tmp_path / "shapes.h5", probe_per_class=4, probe_seed=0, batch_size=9,
                   device=CPU, progress=False)
    extract(model, spec, target, tmp_path / "fm.h5", probe_per_class=4, probe_seed=0, batch_size=9, device=CPU,
            progress=False)
    schedule = Schedule(epochs=3, lr=0.05, step_size=2, batch_size=8)
    table, log = truncate_finetune({"shapes": tmp_path / "shapes.h5"}, schedule, seed=3, device=CPU)
    assert table.layer.tolist() == list(range(1, 18)) and (table.target == "shapes").all()
    assert table.accuracy.between(0, 1).all() and (table.epochs == 3).all() and (table.n_test == 9).all()
    assert len(log) == 17 * 3 and list(log.columns[:3]) == ["target", "layer", "epoch"]
    # a layer's head alone, directly: the same numbers
    _, data = read_layers(tmp_path / "shapes.h5")
    direct = fit_head(*data[9], schedule, seed=3, resume_path=tmp_path / "r.pt", log_path=tmp_path / "l.tsv", device=CPU,
                      label="direct")
    assert table.set_index("layer").loc[9, "accuracy"] == direct["accuracy"]
    # the last layer's head is set up and trained as the workflow's head fine-tuning trains it
    head = finetune_head(tmp_path / "fm.h5", schedule, seed=3, resume_path=tmp_path / "h.pt", log_path=tmp_path / "h.tsv",
                         device=CPU, label="head")
    last = log[log.layer == 17].reset_index(drop=True)
    np.testing.assert_allclose(last.train_loss, pd.read_csv(tmp_path / "h.tsv", sep="\t").train_loss, rtol=1e-4)
    assert abs(table.set_index("layer").loc[17, "accuracy"] - head["accuracy"]) <= 1 / 9 + 1e-12


# --- scores during training -----------------------------------------------------------------------

def test_source_probe_is_capped_and_seeded():
    val = pd.DataFrame({"label": np.repeat([0, 1, 2], [5, 2, 12])})
    val["class"] = val.label.map(lambda k: f"c{k}")
    picks = source_probe(val, 4, seed=7)
    assert np.bincount(val.label.to_numpy()[picks]).tolist() == [4, 2, 4]
    assert len(set(picks)) == len(picks) and (np.diff(picks) > 0).all()
    assert (source_probe(val, 4, seed=7) == picks).all() and not (source_probe(val, 4, seed=8) == picks).all()
    enough = val[val.label != 1].reset_index(drop=True)  # where no class is short: the target probe's draw
    assert (source_probe(enough, 4, seed=7) == probe_rows(enough, 4, seed=7)).all()
    with pytest.raises(BaseselError, match="empty"):
        source_probe(val.iloc[:0], 4, seed=0)


def test_feature_norm_by_hand():
    f = np.zeros((2, 3, 2, 2))
    f[0] = 2.0  # 12 elements of 2: norm sqrt(48)
    f[1, 0, 0, 0], f[1, 1, 1, 1] = 3.0, 4.0  # norm 5
    np.testing.assert_allclose(feature_norm(f), [np.sqrt(48), 5.0])


def test_probe_scores_are_the_probe_layers_scores():
    torch.manual_seed(0)
    model = build_model(ArchSpec("vgg16", 0.125, 32, 5)).eval()
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.arange(12) % 3
    out = probe_scores(model, "vgg16", torch.utils.data.TensorDataset(images, labels), batch_size=5, device=CPU)
    with FeatureTap(model, "vgg16") as tap, torch.no_grad():
        model(normalise(images))
    fm = tap.featuremap.numpy().astype(np.float64)
    assert set(out) == set(TRACKED)
    assert {m: out[m] for m in METRICS} == pytest.approx(paper_scores(fm, labels.numpy()), rel=1e-9)
    assert out["feature_norm"] == pytest.approx(np.linalg.norm(fm.reshape(12, -1), axis=1).mean(), rel=1e-9)


def toy_data(n=64, d=5, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return torch.utils.data.TensorDataset(x, y % k)


def test_epoch_hook_columns(tmp_path):
    sched = Schedule(epochs=3, lr=0.05, batch_size=16)
    seen = []

    def hook(model, epoch):
        seen.append((epoch, model.training))
        return {"wnorm": model.weight.norm().item(), "epoch_sq": epoch ** 2}

    log = fit(nn.Linear(5, 3), toy_data(), toy_data(seed=1), sched, seed=0, resume_path=tmp_path / "r.pt",
              log_path=tmp_path / "l.tsv", epoch_hook=hook)
    assert seen == [(1, False), (2, False), (3, False)]  # after validation, in eval mode
    assert list(log.columns) == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "wnorm", "epoch_sq", "seconds"]
    assert log.epoch_sq.tolist() == [1, 4, 9]
    assert pd.read_csv(tmp_path / "l.tsv", sep="\t").columns.tolist() == list(log.columns)
    with pytest.raises(ValueError, match="val_acc"):
        fit(nn.Linear(5, 3), toy_data(), toy_data(), sched, seed=0, resume_path=tmp_path / "x.pt",
            log_path=tmp_path / "x.tsv", epoch_hook=lambda m, e: {"val_acc": 1.0})


class Killed(Exception):
    pass


def test_tracked_run_resumed_after_kill_matches_uninterrupted_run(tmp_path):
    """A killed-and-resumed run with a ScoreTracker (and kept checkpoints) gives the same log,
    hook columns included, and the same checkpoints as an uninterrupted one."""
    spec = ArchSpec("resnet18", 0.125, 64, 3)
    g = torch.Generator().manual_seed(0)
    train = torch.utils.data.TensorDataset(torch.randint(0, 256, (24, 3, 64, 64), dtype=torch.uint8, generator=g),
                                           torch.arange(24) % 3)
    val = torch.utils.data.TensorDataset(torch.randint(0, 256, (12, 3, 64, 64), dtype=torch.uint8, generator=g),
                                         torch.arange(12) % 3)
    sched = Schedule(epochs=3, lr=0.05, step_size=2, batch_size=8)

    def run(name, prepare=normalise):
        torch.manual_seed(0)
        model = build_model(spec)
        tracker = ScoreTracker("resnet18", val, batch_size=5, device=CPU, spec=spec, checkpoint_dir=tmp_path / name,
                               epochs=sched.epochs)
        log = fit(model, train, val, sched, seed=4, resume_path=tmp_path / f"{name}.pt", log_path=tmp_path / f"{name}.tsv",
                  device=CPU, prepare=prepare, epoch_hook=tracker)
        return model, log

    straight, log_a = run("a")
    assert list(log_a.columns) == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", *TRACKED, "seconds"]

    calls = {"n": 0}

    def dies_in_epoch_two(x):
        calls["n"] += 1
        if calls["n"] == 4 + 2:  # 3 training batches and 1 validation batch an epoch; die mid-epoch 2
            raise Killed
        return normalise(x)

    with pytest.raises(Killed):
        run("b", dies_in_epoch_two)
    assert torch.load(tmp_path / "b.pt", weights_only=True)["epoch"] == 1
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["model_epoch01.pt"]
    resumed, log_b = run("b")
    pd.testing.assert_frame_equal(log_b.drop(columns="seconds"), log_a.drop(columns="seconds"))
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k])
    names = [f"model_epoch0{e}.pt" for e in (1, 2, 3)]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == names
    for name, row in zip(names, log_a.itertuples()):
        a, _, ckpt_a = load_checkpoint(tmp_path / "a" / name)
        b, _, ckpt_b = load_checkpoint(tmp_path / "b" / name)
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
        assert ckpt_a["epoch"] == row.epoch and ckpt_a["S6"] == row.S6 == ckpt_b["S6"]
    last, _, _ = load_checkpoint(tmp_path / "a" / names[-1])
    assert all(torch.equal(v, last.state_dict()[k]) for k, v in straight.state_dict().items())


# --- statistics -----------------------------------------------------------------------------------

def test_standardise():
    x = np.random.default_rng(0).normal(3, 7, size=20)
    z = standardise(x)
    assert z.mean() == pytest.approx(0, abs=1e-12) and z.var() == pytest.approx(1)
    np.testing.assert_allclose(standardise(5 * x - 2), z)  # invariant to a positive affine map
    assert (standardise(np.full(4, 2.5)) == 0).all()
    w = standardise([1.0, np.inf, 3.0])
    assert np.isnan(w[1]) and w[[0, 2]].tolist() == pytest.approx([-1, 1])


def test_correlation_against_scipy():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 15).astype(float)  # ties
    y = x + rng.normal(0, 2, 15)
    rho, r = correlation(x, y)
    assert rho == pytest.approx(stats.spearmanr(x, y).statistic) and r == pytest.approx(stats.pearsonr(x, y).statistic)
    assert all(np.isnan(correlation(np.ones(5), y[:5])))
    rho_inf, r_inf = correlation([1.0, np.inf, 2.0], [0.1, 0.9, 0.5])
    assert rho_inf == pytest.approx(1.0) and np.isnan(r_inf)


def test_curve_correlations():
    acc = np.array([0.1, 0.3, 0.35, 0.5, 0.45])
    log = pd.DataFrame({"epoch": range(1, 6), "val_acc": acc, "S1": 2 * acc + 1, "S2": -acc, "S3": acc ** 3,
                        "S4": [5, 1, 2, 3, 4.0], "S5": np.ones(5), "S6": acc[::-1], "feature_norm": acc})
    out = curve_correlations({"alexnet": log}).set_index("metric")
    assert out.spearman_rho["S1"] == pytest.approx(1) and out.pearson_r["S1"] == pytest.approx(1)
    assert out.spearman_rho["S2"] == pytest.approx(-1) and out.pearson_r["S2"] == pytest.approx(-1)
    assert out.spearman_rho["S3"] == pytest.approx(1) and out.pearson_r["S3"] < 1
    assert out.spearman_rho["S4"] == pytest.approx(stats.spearmanr(log.S4, acc).statistic)
    assert np.isnan(out.spearman_rho["S5"]) and (out.epochs == 5).all() and out["last"]["S6"] == 0.1
    with pytest.raises(BaseselError, match="feature_norm"):
        curve_correlations({"alexnet": log.drop(columns="feature_norm")})


def test_layer_correlations_and_the_layer_each_metric_picks():
    acc = np.array([0.2, 0.5, 0.7, 0.6])
    table = pd.DataFrame({"arch": "resnet18", "target": "t", "layer": [1, 2, 3, 4], "accuracy": acc,
                          "S1": [1, 2, 3, 4.0], "S2": [4, 3, 1, 2.0], "S3": [1, 2, np.inf, 3], "S4": [1, 1, 1, 1.0],
                          "S5": [0.9, 0.5, 0.1, 0.3], "S6": [3, 2, 1, 0.5]})
    out = layer_correlations(table.sample(frac=1, random_state=0)).set_index("metric")
    assert out.loc["S1", "picked_layer"] == 4 and out.loc["S1", "regret"] == pytest.approx(0.1)
    assert out.loc["S2", "picked_layer"] == 3 and out.loc["S2", "regret"] == 0  # smaller is better
    assert out.loc["S3", "picked_layer"] == 3 and out.loc["S3", "spearman_rho"] == pytest.approx(1.0)
    assert out.loc["S5", "spearman_rho"] == pytest.approx(-1.0) and np.isnan(out.loc["S4", "spearman_rho"])
    assert out.loc["S6", "picked_layer"] == 4 and (out.best_layer == 3).all() and (out.layers == 4).all()
    assert out.loc["S1", "pearson_r"] == pytest.approx(stats.pearsonr(table.S1, acc).statistic)


# --- config and DAG -------------------------------------------------------------------------------

def validated(config):
    """config.yaml without its curves and layers sections (so their defaults apply), with `config`'s
    sections merged in, validated with defaults filled as the workflow does."""
    from snakemake.utils import validate

    merged = {k: v for k, v in yaml.safe_load((ROOT / "config.yaml").read_text()).items() if k not in ("curves", "layers")}
    for key, value in config.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    validate(merged, str(ROOT / "workflow/schemas/config.schema.yaml"), set_default=True)
    return merged


def test_config_plan_of_the_experiments():
    plan = check_config(validated({}))
    assert plan.curves == ["alexnet", "vgg16", "resnet18"] and plan.layers == ["resnet18"]  # the defaults
    plan = check_config(validated({"curves": {"architectures": ["vgg16"]}, "layers": {"enabled": False}}))
    assert plan.curves == ["vgg16"] and plan.layers == [] and plan.whole == ["vgg16"]
    assert "results/plots/figure1.svg" in plan.final_outputs and "results/plots/figure4.svg" not in plan.final_outputs
    only_alexnet = [{"name": "alexnet", "width": 0.25, "input_size": 64}]
    plan = check_config(validated({"architectures": only_alexnet, "curves": {"schedule": {"epochs": 3}}}))
    assert plan.curves == ["alexnet"] and plan.layers == []  # layers default to resnet18, where configured
    assert plan.whole_schedules["alexnet"]["epochs"] == 3 and plan.whole_schedules["alexnet"]["lr"] == 0.01
    with pytest.raises(ConfigError, match="layers.architectures: resnet18 not among the configured"):
        check_config(validated({"architectures": only_alexnet, "layers": {"architectures": ["resnet18"]}}))
    plan = check_config(validated({"curves": {"keep_checkpoints": True, "architectures": ["resnet18"]}}))
    assert "results/curves/resnet18/checkpoints" in plan.final_outputs


def test_bad_experiment_config_fails_before_any_job(tmp_path):
    config = with_changes(TINY, architectures=[a for a in TINY["architectures"] if a["name"] != "alexnet"])
    out = smk(tmp_path, "-n", config=config, check=False)
    assert out.returncode != 0 and "curves.architectures: alexnet not among the configured" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


def dry(workdir, config, *targets):
    """{rule: count} and [(rule, wildcards)] of one dry run."""
    text = smk(workdir, *targets, "-n", config=config).stdout
    if "Job stats:" not in text:
        return {}, []
    stats_ = text.split("Job stats:")[1].split("Reasons:")[0]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats_, re.M) if m.group(1) != "total"}
    return counts, job_wildcards(text)


def test_tiny_dag_has_the_new_jobs_and_enabled_false_removes_them(tmp_path):
    counts, jobs = dry(tmp_path, TINY)
    whole = {"alexnet", "resnet18"}  # tiny: curves and layers both on alexnet and resnet18
    assert counts["pretrain_whole"] == counts["layer_features"] == counts["layer_selection"] == len(whole)
    assert counts["curve_correlations"] == counts["layer_correlations"] == 1
    assert counts["plot_figure1"] == counts["plot_figure4"] == counts["plot_figure5"] == 1
    assert {wc for rule, wc in jobs if rule == "pretrain_whole"} == {f"arch={a}" for a in whole}
    # the new targets alone need no subset model: nothing of the main branch runs for them
    counts, _ = dry(tmp_path, TINY, *NEW_TARGETS)
    assert set(counts) - NEW_RULES == {"embedded_dataset", "index_dataset"}
    counts, _ = dry(tmp_path, with_changes(TINY, curves__enabled=False))
    assert "curve_correlations" not in counts and "plot_figure1" not in counts
    assert counts["pretrain_whole"] == 2 and counts["layer_selection"] == 2  # layers still need the whole-pool models
    counts, _ = dry(tmp_path, with_changes(TINY, layers__enabled=False, curves__enabled=False))
    assert not NEW_RULES & set(counts) and counts["pretrain"] == 12


@pytest.fixture(scope="module")
def touched(tmp_path_factory):
    """The whole tiny DAG marked done without running it (empty outputs, then --touch), so that dry
    runs show what a config change would rerun."""
    work = tmp_path_factory.mktemp("touched")
    out = smk(work, "-n", config=TINY)
    outputs = {o.strip() for line in re.findall(r"^    output: (.*)$", out.stdout, re.M) for o in line.split(",")}
    for o in outputs:
        path = work / o
        if o.startswith("results/data/embedded/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    smk(work, "--touch", config=TINY)
    assert dry_jobs(work, TINY)[0] == {}
    return work


def job_wildcards(text):
    """(rule, wildcards or None) of every job of a dry run's output."""
    jobs = []
    for line in text.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):$", line):
            jobs.append([m.group(1), None])
        elif (m := re.match(r"^\s+wildcards: (.+)$", line)) and jobs:
            jobs[-1][1] = m.group(1)
    return [tuple(j) for j in jobs]


WHOLE_BRANCH = NEW_RULES | {"all"}
LAYER_BRANCH = {"layer_selection", "layer_correlations", "plot_figure4", "plot_figure5", "all"}


@pytest.mark.slow
@pytest.mark.parametrize("change,expected", [
    ({"layers__schedule": {"epochs": 7}}, LAYER_BRANCH),
    ({"curves__architectures": ["resnet18"]}, {"curve_correlations", "plot_figure1", "all"}),
    ({"curves__probe_per_class": 3}, WHOLE_BRANCH),
    ({"curves__schedule": {"epochs": 3}}, WHOLE_BRANCH),
    ({"curves__keep_checkpoints": True}, WHOLE_BRANCH),
    ({"curves__enabled": False}, set()),
    ({"layers__enabled": False}, set()),
])
def test_experiment_settings_rerun_only_their_branch(touched, change, expected):
    counts, _ = dry_jobs(touched, with_changes(TINY, **change))
    assert set(counts) == expected
    assert "pretrain" not in counts  # the subset models are never retrained


@pytest.mark.slow
def test_main_settings_rerun_the_experiments_only_where_they_use_them(touched):
    counts, _ = dry_jobs(touched, with_changes(TINY, featuremaps__probe_per_class=3))  # the layers' target probe set
    assert {"layer_features", "layer_selection"} <= set(counts) and "pretrain_whole" not in counts
    archs = [{**a, "pretrain": {**a["pretrain"], "lr": 0.02}} if a["name"] == "resnet18" else a for a in TINY["architectures"]]
    jobs = job_wildcards(smk(touched, "-n", config=with_changes(TINY, architectures=archs)).stdout)
    assert sorted((rule, str(wc)) for rule, wc in jobs if rule in NEW_RULES) == sorted(
        [(r, "arch=resnet18") for r in ("pretrain_whole", "layer_features", "layer_selection")]
        + [(r, "None") for r in ("curve_correlations", "plot_figure1", "layer_correlations", "plot_figure4", "plot_figure5")])
    archs = [{**a, "pretrain": {**a["pretrain"], "epochs": 3}} if a["name"] == "resnet18" else a for a in TINY["architectures"]]
    counts, _ = dry_jobs(touched, with_changes(TINY, architectures=archs))  # tiny's curves.schedule sets the epochs
    assert counts["pretrain"] == 4 and not NEW_RULES & set(counts)


@pytest.fixture(scope="module")
def new_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("experiments")
    smk(work, *NEW_TARGETS, config=TINY)
    return work


@pytest.mark.slow
def test_end_to_end_new_targets(new_run):
    results = new_run / "results"
    assert not (results / "pretrain").exists() and not (results / "featuremaps").exists()
    for arch in ("alexnet", "resnet18"):
        log = pd.read_csv(results / f"curves/{arch}/log.tsv", sep="\t")
        assert len(log) == 2 and set(TRACKED) <= set(log.columns) and log[list(TRACKED)].notna().all().all()
        _, spec, ckpt = load_checkpoint(results / f"curves/{arch}/model.pt")
        assert spec.num_classes == TINY["source"]["embedded"]["classes"] and ckpt["subset"] == "whole"
        assert ckpt["train_images"] == TINY["source"]["embedded"]["classes"] * TINY["source"]["embedded"]["train_per_class"]
        table = pd.read_csv(results / f"layers/{arch}/layers.tsv", sep="\t")
        n = {"alexnet": 5, "resnet18": 17}[arch]
        assert len(table) == n * len(TINY["targets"]) and table.accuracy.between(0, 1).all()
        assert table[list(METRICS)].notna().all().all()
        assert not (results / f"curves/{arch}/checkpoints").exists()
    corr = pd.read_csv(results / "curves/correlations.tsv", sep="\t")
    assert len(corr) == 2 * len(TRACKED)
    lcorr = pd.read_csv(results / "layers/correlations.tsv", sep="\t")
    assert len(lcorr) == 2 * len(TINY["targets"]) * len(METRICS)
    for fig in NEW_TARGETS:
        assert (new_run / fig).read_text().lstrip().startswith("<?xml")
    leftovers = [p for p in results.rglob("*") if (p.name.startswith(".") and p.name != ".snakemake_timestamp")
                 or "resume" in p.name or p.name.endswith(".partial")]
    assert leftovers == []
    out = smk(new_run, *NEW_TARGETS, "-n", config=TINY)
    assert "Nothing to be done" in out.stdout + out.stderr
    out = smk(new_run, *NEW_TARGETS, "--report", "results/report.html", config=TINY)
    assert "WARNING" not in out.stdout + out.stderr  # the captions and the front page render cleanly
    text = (results / "report.html").read_text(errors="ignore")
    assert "8. Scores during training" in text and "9. Layer selection" in text


@pytest.mark.slow
def test_keep_checkpoints_end_to_end(new_run, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(new_run, work, symlinks=True)
    config = with_changes(TINY, curves__keep_checkpoints=True, curves__architectures=["resnet18"], layers__enabled=False)
    smk(work, "results/plots/figure1.svg", "results/curves/resnet18/checkpoints", config=config)
    folder = work / "results/curves/resnet18/checkpoints"
    assert sorted(p.name for p in folder.glob("*.pt")) == ["model_epoch01.pt", "model_epoch02.pt"]
    final, _, _ = load_checkpoint(work / "results/curves/resnet18/model.pt")
    last, _, ckpt = load_checkpoint(folder / "model_epoch02.pt")
    assert all(torch.equal(v, last.state_dict()[k]) for k, v in final.state_dict().items())
    log = pd.read_csv(work / "results/curves/resnet18/log.tsv", sep="\t")
    assert ckpt["epoch"] == 2 and ckpt["S3"] == pytest.approx(log.S3.iloc[-1], rel=1e-9)
    assert not (work / "results/curves/resnet18/checkpoints.partial").exists()
