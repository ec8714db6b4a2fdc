"""Appendix A.2: the conv-layer registry against the models, each layer's pooled features and scores
against hand-built truncated forwards, the last layer against the main workflow's probe, truncate
fine-tuning against the workflow's head fine-tuning, and the per-layer statistics."""
import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn
from torchvision.models.resnet import BasicBlock

from basesel import BaseselError
from basesel.compute.finetune import finetune_head, fit_head
from basesel.compute.layers import (
    extract_layer_features,
    layer_scores,
    layer_tap,
    read_layer_features,
    select_layers,
    truncate_finetune,
)
from basesel.compute.passes import write_featuremap_file, write_features_file
from basesel.compute.schedule import Schedule
from basesel.data import synthetic
from basesel.data.folders import index_dataset
from basesel.data.images import load_image, normalise
from basesel.data.subsets import probe_table
from basesel.models import archs
from basesel.models.paper import ArchSpec, build_model, probed
from basesel.science.experiments import layer_correlations, layer_table
from basesel.science.featuremap_scores import METRICS, paper_scores, scores_from_h5
from helpers import direct_forward, trained_bn

CPU = torch.device("cpu")


def layer_maps(model, arch, x, indices=None):
    """({layer: featuremaps}, logits) of one forward pass, through the library's layer tap."""
    maps = {}
    with layer_tap(model, select_layers(arch, indices), lambda k, m: maps.__setitem__(k, m.clone())), torch.no_grad():
        logits = model(x)
    return maps, logits


@pytest.mark.parametrize("arch,count", [("alexnet", 5), ("vgg16", 13), ("resnet18", 17)])
@pytest.mark.parametrize("width,size", [(1.0, 224), (0.125, 64)])
def test_registry_lists_every_main_path_conv_from_zero(arch, count, width, size):
    model = build_model(ArchSpec(arch, width, size, 10))
    layers = archs.get(arch).conv_layers
    assert [layer.index for layer in layers] == list(range(count))  # numbered from 0, as the paper's Figure 4
    # every convolution on the main path, in forward order; ResNet's 1x1 shortcut convs are not counted
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and ".downsample" not in n]
    assert [layer.conv for layer in layers] == convs
    for layer in layers:  # each tap exists: a ReLU module, a module the hook applies one to, or a block ending in one
        tap = model.get_submodule(layer.tap)
        assert isinstance(tap, nn.ReLU) != (layer.relu or isinstance(tap, BasicBlock)), layer
    # and what each layer's tap reads is after a ReLU: never negative, though the convolutions' outputs are
    maps, _ = layer_maps(model.eval(), arch, torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)))
    assert sorted(maps) == [layer.index for layer in layers]
    assert all(m.min() >= 0 and m.max() > 0 for m in maps.values())


def test_registry_probe_layers_are_the_specs():
    assert archs.get("alexnet").probe.tap == "features.11"
    assert archs.get("vgg16").probe.tap == "features.29"
    assert archs.get("resnet18").probe.tap == "layer4.1"  # the output of layer4, its last block
    assert [archs.get(a).min_input_size for a in ("alexnet", "vgg16", "resnet18")] == [63, 16, 32]
    with pytest.raises(ValueError, match="unknown architecture 'lenet'"):
        archs.get("lenet")


@pytest.mark.parametrize("arch,width,size", [("alexnet", 0.25, 64), ("vgg16", 0.125, 32), ("resnet18", 0.25, 64)])
def test_last_layer_is_the_probed_layer(arch, width, size):
    torch.manual_seed(0)
    model = trained_bn(build_model(ArchSpec(arch, width, size, 10)), size)
    x = torch.randn(3, 3, size, size)
    maps, _ = layer_maps(model, arch, x)
    last = len(maps) - 1
    assert torch.equal(maps[last], direct_forward(model, arch, x)[0])
    assert all(m.min() >= 0 for m in maps.values())  # every layer's output is after a ReLU


def test_resnet_layers_equal_a_manually_truncated_forward():
    torch.manual_seed(0)
    model = trained_bn(build_model(ArchSpec("resnet18", 0.25, 64, 10)), 64)
    x = torch.randn(4, 3, 64, 64)
    maps, logits = layer_maps(model, "resnet18", x)
    with torch.no_grad():
        stem = torch.relu(model.bn1(model.conv1(x)))  # layer 0: before the max-pool
        expected, h, k = {0: stem}, model.maxpool(stem), 1
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            for block in stage:
                expected[k] = torch.relu(block.bn1(block.conv1(h)))  # the block's conv1
                h = block(h)
                expected[k + 1] = h  # the block's conv2: its output after the residual add and ReLU
                k += 2
        truncated = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                                  model.layer1, model.layer2, model.layer3, model.layer4)
        avgpool_input_pooled = torch.flatten(model.avgpool(truncated(x)), 1)
    assert sorted(expected) == list(range(17))
    for k, e in expected.items():
        torch.testing.assert_close(maps[k], e)
    torch.testing.assert_close(maps[16].mean(dim=(2, 3)), avgpool_input_pooled)
    torch.testing.assert_close(model.fc(maps[16].mean(dim=(2, 3))), logits)


@pytest.mark.parametrize("arch,width,size,count", [("alexnet", 0.25, 64, 5), ("vgg16", 0.125, 32, 13)])
def test_sequential_layers_equal_truncated_features(arch, width, size, count):
    torch.manual_seed(0)
    model = build_model(ArchSpec(arch, width, size, 10)).eval()
    x = torch.randn(2, 3, size, size)
    maps, _ = layer_maps(model, arch, x)
    relus = [i for i, m in enumerate(model.features) if isinstance(m, nn.ReLU)]
    assert len(relus) == count
    with torch.no_grad():
        for k, i in enumerate(relus):
            torch.testing.assert_close(maps[k], model.features[:i + 1](x))


def test_layer_selection_of_indices():
    model = build_model(ArchSpec("alexnet", 0.25, 64, 10)).eval()
    maps, _ = layer_maps(model, "alexnet", torch.randn(1, 3, 64, 64), indices=[1, 4])
    assert sorted(maps) == [1, 4]
    with pytest.raises(BaseselError, match="conv layers 0..4; no layer 5"):
        select_layers("alexnet", [5])


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    root = tmp_path_factory.mktemp("t") / "shapes"
    synthetic.generate_target(root, kind="shape", seed=1, num_classes=3, train_per_class=6, test_per_class=3, size=64)
    return index_dataset(root, ("train", "test"))


@pytest.mark.parametrize("arch,width", [("resnet18", 0.125), ("alexnet", 0.125)])
def test_layer_files_and_scores_match_the_main_workflow(tmp_path, target, arch, width):
    spec = ArchSpec(arch, width, 64, 7)
    torch.manual_seed(0)
    model = trained_bn(build_model(spec), 64)
    probe = probe_table(target, 4, seed=0)
    extract_layer_features(model, spec, target, tmp_path / "layers.h5", batch_size=5, device=CPU)
    table = layer_scores(model, spec, probe, margin=1.0, batch_size=5, device=CPU)
    write_featuremap_file(probed(model, spec, "m"), probe, tmp_path / "fm.h5", batch_size=7, device=CPU)
    write_features_file(probed(model, spec, "m"), target, tmp_path / "features.h5", batch_size=7, device=CPU)
    n_layers = {"alexnet": 5, "resnet18": 17}[arch]
    assert table.layer.tolist() == list(range(n_layers))
    # the last layer's S1..S6 are the main workflow's scores of the same model on the same probe set
    main = scores_from_h5(tmp_path / "fm.h5")
    last = table.iloc[-1]
    assert {m: last[m] for m in METRICS} == pytest.approx({m: main[m] for m in METRICS}, rel=1e-6)
    # every layer's scores: a direct forward of the probe images, one layer map at a time
    x = torch.stack([load_image(p, 64) for p in probe.path])
    maps, _ = layer_maps(model, arch, normalise(x))
    for row in table.itertuples():
        direct = paper_scores(maps[row.layer].numpy().astype(np.float64), probe.label.to_numpy())
        assert {m: getattr(row, m) for m in METRICS} == pytest.approx(direct, rel=1e-6)
        assert (row.channels, row.height, row.width) == tuple(maps[row.layer].shape[1:])
    data = read_layer_features(tmp_path / "layers.h5")
    assert sorted(data) == list(range(n_layers))
    with h5py.File(tmp_path / "layers.h5") as f:
        assert f.attrs["arch"] == arch and list(f.attrs["layers"]) == list(range(n_layers))
        assert f["layer00"].attrs["conv"] == archs.get(arch).conv_layers[0].conv
    (xtr, ytr), (xte, yte) = data[n_layers - 1]
    assert len(ytr) == 18 and len(yte) == 9
    with h5py.File(tmp_path / "features.h5") as f:
        feats = f["features"][:]
    if arch == "resnet18":  # the last layer's GAP features are the head's input, the penultimate features
        np.testing.assert_allclose(np.concatenate([xtr, xte]), feats, rtol=1e-5, atol=1e-6)


def test_truncate_finetune_trains_a_head_per_layer_like_finetune_head(tmp_path, target):
    spec = ArchSpec("resnet18", 0.125, 64, 7)
    torch.manual_seed(0)
    model = trained_bn(build_model(spec), 64)
    extract_layer_features(model, spec, target, tmp_path / "shapes.h5", batch_size=9, device=CPU)
    write_features_file(probed(model, spec, "m"), target, tmp_path / "fm.h5", batch_size=9, device=CPU)
    schedule = Schedule(epochs=3, lr=0.05, step_size=2, batch_size=8)
    table, log = truncate_finetune(tmp_path / "shapes.h5", schedule, seed=3, device=CPU)
    assert table.layer.tolist() == list(range(17))
    assert table.accuracy.between(0, 1).all() and (table.epochs == 3).all() and (table.n_test == 9).all()
    assert len(log) == 17 * 3 and list(log.columns[:2]) == ["layer", "epoch"]
    # a layer's head alone, directly: the same numbers
    train, test = read_layer_features(tmp_path / "shapes.h5")[8]
    direct = fit_head(train, test, schedule, seed=3, resume_path=tmp_path / "r.pt", log_path=tmp_path / "l.tsv",
                      device=CPU, label="direct", params=None)
    assert table.set_index("layer").loc[8, "accuracy"] == direct.val_acc.iloc[-1]
    # the last layer's head is set up and trained as the workflow's head fine-tuning trains it
    head = finetune_head(tmp_path / "fm.h5", schedule, seed=3, resume_path=tmp_path / "h.pt", log_path=tmp_path / "h.tsv",
                         device=CPU, label="head")
    last = log[log.layer == 16].reset_index(drop=True)
    np.testing.assert_allclose(last.train_loss, pd.read_csv(tmp_path / "h.tsv", sep="\t").train_loss, rtol=1e-4)
    assert abs(table.set_index("layer").loc[16, "accuracy"] - head["accuracy"]) <= 1 / 9 + 1e-12


def test_layer_table_joins_scores_and_heads():
    scores = pd.DataFrame({"layer": [0, 1], "conv": ["c0", "c1"], "output": ["o0", "o1"], "channels": [4, 8],
                           "height": [8, 4], "width": [8, 4], **{m: [1.0, 2.0] for m in METRICS}})
    heads = pd.DataFrame({"layer": [1, 0], "accuracy": [0.7, 0.5], "epochs": [3, 3]})
    table = layer_table({"t": scores}, {"t": heads})
    assert table.columns.tolist()[:8] == ["target", "layer", "conv", "output", "channels", "height", "width", "S1"]
    assert table.set_index("layer").accuracy.to_dict() == {0: 0.5, 1: 0.7}
    with pytest.raises(BaseselError, match="different layers"):
        layer_table({"t": scores}, {"t": heads.iloc[:1]})


def test_layer_correlations_and_the_layer_each_metric_picks():
    acc = np.array([0.2, 0.5, 0.7, 0.6])
    table = pd.DataFrame({"arch": "resnet18", "target": "t", "layer": [0, 1, 2, 3], "accuracy": acc,
                          "S1": [1, 2, 3, 4.0], "S2": [4, 3, 1, 2.0], "S3": [1, 2, np.inf, 3], "S4": [1, 1, 1, 1.0],
                          "S5": [0.9, 0.5, 0.1, 0.3], "S6": [3, 2, 1, 0.5]})
    out = layer_correlations(table.sample(frac=1, random_state=0)).set_index("metric")
    assert out.loc["S1", "picked_layer"] == 3 and out.loc["S1", "regret"] == pytest.approx(0.1)
    assert out.loc["S2", "picked_layer"] == 2 and out.loc["S2", "regret"] == 0  # smaller is better
    assert out.loc["S3", "picked_layer"] == 2 and out.loc["S3", "rho"] == pytest.approx(1.0)
    assert out.loc["S5", "rho"] == pytest.approx(-1.0) and np.isnan(out.loc["S4", "rho"])
    assert out.loc["S6", "picked_layer"] == 3 and (out.best_layer == 2).all() and (out.layers == 4).all()
    assert out.loc["S1", "pearson_r"] == pytest.approx(stats.pearsonr(table.S1, acc).statistic)
