"""The zoo: models users already have, read without pickle and fed as they say. Weights written two
ways read back the same; a ViT's grid is its tokens reshaped by hand; the same ResNet-18 weights as
torchvision:resnet18 and as timm:resnet18 give the same featuremaps, features and scores;
preprocessing equals timm's own eval transform; every bad input has its error; and a tiny zoo runs
through the workflow with S5/S6 marked not applicable where no ReLU makes zeros."""
import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image

from basesel import BaseselError
from basesel.compute.passes import write_featuremap_file, write_features_file
from basesel.data import synthetic
from basesel.data.folders import index_dataset
from basesel.data.images import load_image, normalise
from basesel.data.preprocessing import Preprocess
from basesel.data.subsets import probe_table
from basesel.models import zoo
from basesel.models.zoo_specs import entries, entry, from_command_line
from basesel.science.featuremap_scores import NOT_APPLICABLE, scores_from_h5
from basesel.science.transfer import baseline_scores
from helpers import ROOT, leftovers, planned_jobs, smk, with_changes

CPU = torch.device("cpu")
SQUARE_64 = {"input_size": 64, "resize": "square", "interpolation": "bilinear"}


def timm():
    return zoo.timm_module()


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo") / "colours"
    synthetic.generate_target(root, kind="colour", seed=3, num_classes=3, train_per_class=6, test_per_class=3, size=64)
    return index_dataset(root, ("train", "test"))


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory):
    """torchvision's ResNet-18 (10 classes), with trained-looking batch-norm statistics, saved both
    as safetensors and as a torch state dict."""
    from safetensors.torch import save_file

    from helpers import trained_bn

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    model = trained_bn(torchvision.models.resnet18(num_classes=10), 64)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "r18.safetensors"))
    torch.save(state, folder / "r18.pth")
    return folder


def read(probed, x):
    with torch.no_grad(), probed.reading() as read_batch:
        return read_batch(x)


def test_safetensors_and_state_dict_read_back_the_same(resnet_weights):
    x = torch.randn(3, 3, 64, 64)
    a = zoo.open_entry(entry({"name": "a", "arch": "torchvision:resnet18", "weights": str(resnet_weights / "r18.safetensors"),
                              "preprocess": {"input_size": 64}}))
    b = zoo.open_entry(entry({"name": "b", "arch": "torchvision:resnet18", "weights": str(resnet_weights / "r18.pth"),
                              "preprocess": {"input_size": 64}}))
    ca, cb = read(a, x), read(b, x)
    assert torch.equal(ca.featuremap, cb.featuremap) and torch.equal(ca.penultimate, cb.penultimate)
    assert torch.equal(ca.logits, cb.logits) and ca.logits.shape == (3, 10)
    assert a.layer == "layer4" and a.preprocess == Preprocess(64)


def test_the_same_weights_as_torchvision_and_as_timm_give_the_same_everything(resnet_weights, target, tmp_path):
    """torchvision's and timm's ResNet-18 share their parameter names: one file, read as each, fed
    the same, gives the same featuremaps, features, logits, and so the same scores."""
    weights = str(resnet_weights / "r18.safetensors")
    tv = zoo.open_entry(entry({"name": "tv", "arch": "torchvision:resnet18", "weights": weights,
                               "preprocess": SQUARE_64}))
    tm = zoo.open_entry(entry({"name": "tm", "arch": "timm:resnet18", "weights": weights, "preprocess": SQUARE_64}))
    assert tv.preprocess == tm.preprocess == Preprocess(64)
    x = torch.randn(4, 3, 64, 64)
    a, b = read(tv, x), read(tm, x)
    torch.testing.assert_close(a.featuremap, b.featuremap, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.penultimate, b.penultimate, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-5)
    probe = probe_table(target, 4, seed=0)
    results = {}
    for name, model in (("tv", tv), ("tm", tm)):
        write_featuremap_file(model, probe, tmp_path / f"{name}.fm.h5", batch_size=5, device=CPU)
        write_features_file(model, target, tmp_path / f"{name}.h5", batch_size=5, device=CPU)
        results[name] = {**scores_from_h5(tmp_path / f"{name}.fm.h5"),
                         **{k: v for k, v in baseline_scores(tmp_path / f"{name}.h5").items() if k != "seconds"}}
    assert results["tv"].keys() == results["tm"].keys()
    for key, value in results["tv"].items():
        if isinstance(value, float):
            assert results["tm"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
        else:
            assert results["tm"][key] == value, key
    with h5py.File(tmp_path / "tm.h5") as f:  # the features file records how the model was fed
        assert json.loads(f.attrs["preprocess"]) == Preprocess(64).as_dict()
        assert f.attrs["arch"] == "timm:resnet18" and f.attrs["zoo_model"] == "tm"


def test_a_vits_grid_is_its_last_blocks_patch_tokens_reshaped(tmp_path):
    """timm's ViT: the probed layer is the last block's output, prefix tokens dropped, laid out
    row-major as (D, h, w), before the final norm; the penultimate features the class token after it."""
    torch.manual_seed(1)
    vit = timm().create_model("vit_tiny_patch16_224", pretrained=False, num_classes=5, img_size=32, patch_size=8,
                              reg_tokens=2).eval()
    folder = tmp_path / "vit"
    timm().models.save_for_hf(vit, str(folder), model_args={"img_size": 32, "patch_size": 8, "reg_tokens": 2},
                              safe_serialization=True)
    probed = zoo.open_entry(entry({"name": "vit", "snapshot": str(folder)}))
    assert probed.preprocess.input_size == 32 and probed.layer.startswith("blocks.11 tokens")
    x = torch.randn(2, 3, 32, 32)
    cap = read(probed, x)
    with torch.no_grad():  # by hand: embed, add positions (class and register tokens first), the blocks
        tokens = vit.blocks(vit.norm_pre(vit._pos_embed(vit.patch_embed(x))))
    prefix = vit.num_prefix_tokens
    assert prefix == 3 and tokens.shape == (2, 3 + 16, 192)
    grid = torch.stack([tokens[:, prefix + r * 4 + c, :] for r in range(4) for c in range(4)], dim=2).reshape(2, 192, 4, 4)
    torch.testing.assert_close(cap.featuremap, grid)
    torch.testing.assert_close(cap.penultimate, vit.norm(tokens)[:, 0])
    torch.testing.assert_close(cap.logits, vit(x))


def test_torchvisions_vit_grid_drops_the_class_token():
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16,
                                                 mlp_dim=32, num_classes=4).eval()
    e = zoo.ZooEntry("tvvit", "torchvision:vit_b_16", None)
    probed = zoo._torchvision_model(e, Preprocess(32), model, {})
    x = torch.randn(2, 3, 32, 32)
    cap = read(probed, x)
    with torch.no_grad():
        h = model._process_input(x)
        h = torch.cat([model.class_token.expand(2, -1, -1), h], dim=1) + model.encoder.pos_embedding
        tokens = model.encoder.layers(model.encoder.dropout(h))
    torch.testing.assert_close(cap.featuremap, tokens[:, 1:].transpose(1, 2).reshape(2, 16, 4, 4))
    torch.testing.assert_close(cap.penultimate, model.encoder.ln(tokens)[:, 0])


@pytest.mark.parametrize("config", [
    {"input_size": (3, 48, 48), "interpolation": "bicubic", "crop_pct": 0.875, "crop_mode": "center",
     "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)},
    {"input_size": (3, 40, 40), "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "squash",
     "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
])
def test_preprocessing_equals_timms_eval_transform(tmp_path, config):
    """A model's data config turned into a Preprocess feeds what timm's own eval transform feeds."""
    rng = np.random.default_rng(0)
    path = tmp_path / "img.png"
    Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(path)
    ours = zoo.resolve_preprocess(zoo.ZooEntry("m", "timm:x", None), config)
    x = normalise(load_image(str(path), ours)[None], ours.mean, ours.std)[0]
    transform = timm().data.create_transform(**config, is_training=False)
    theirs = transform(Image.open(path).convert("RGB"))
    assert x.shape == theirs.shape
    torch.testing.assert_close(x, theirs, rtol=0, atol=1e-5)


def test_own_data_config_first_then_the_entry_then_timms_registry():
    own = {"input_size": (3, 64, 64), "crop_mode": "center", "crop_pct": 1.0}
    e = zoo.ZooEntry("m", "timm:x", None, preprocess={"interpolation": "bicubic"})
    got = zoo.resolve_preprocess(e, own, fallback={"input_size": (3, 224, 224), "interpolation": "bilinear",
                                                   "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)})
    assert (got.input_size, got.interpolation, got.mean, got.resize) == (64, "bicubic", (0.5, 0.5, 0.5), "crop")
    with pytest.raises(BaseselError, match=r"preprocess.input_size is 32, but the model's own data config says 64"):
        zoo.resolve_preprocess(zoo.ZooEntry("m", "timm:x", None, preprocess={"input_size": 32}), own)
    assert zoo.resolve_preprocess(zoo.ZooEntry("m", "torchvision:x", None), None) == Preprocess(224)


# --- bad input ---------------------------------------------------------------------------------------

def test_bad_zoo_input_gives_its_error(resnet_weights, tmp_path):
    weights = str(resnet_weights / "r18.safetensors")
    cases = [
        ({"name": "a", "arch": "timm:convnext_tinny", "weights": weights}, "unknown timm architecture 'convnext_tinny'; "
                                                                           "the closest names: convnext_tiny"),
        ({"name": "a", "arch": "torchvision:resnet81", "weights": weights}, "unknown torchvision architecture "
                                                                            "'resnet81'; the closest names: resnet18"),
        ({"name": "a", "arch": "torchvision:resnet34", "weights": weights},
         "weights do not fit torchvision:resnet34: missing layer1.2.conv1.weight"),
    ]
    from safetensors.torch import save_file

    vit = timm().create_model("vit_tiny_patch16_224", pretrained=False)  # built for 224 px inputs
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(tmp_path / "vit.safetensors"))
    cases.append(({"name": "a", "arch": "timm:vit_tiny_patch16_224", "weights": str(tmp_path / "vit.safetensors"),
                   "preprocess": {"input_size": 32}}, "an input of 32 px does not go through the model"))
    torch.save(torchvision.models.resnet18(), tmp_path / "pickled.pth")  # a whole pickled module
    cases.append(({"name": "a", "arch": "torchvision:resnet18", "weights": str(tmp_path / "pickled.pth")},
                  "a pickled model or other objects are refused"))
    shape = tmp_path / "wide.safetensors"
    state = torchvision.models.resnet18(num_classes=10).state_dict()
    state["conv1.weight"] = torch.zeros(32, 3, 7, 7)
    save_file({k: v.contiguous() for k, v in state.items()}, str(shape))
    cases.append(({"name": "a", "arch": "torchvision:resnet18", "weights": str(shape)},
                  "shapes differ: conv1.weight (file (32, 3, 7, 7), model (64, 3, 7, 7))"))
    for doc, message in cases:
        with pytest.raises(BaseselError) as info:
            zoo.check_input(zoo.open_entry(entry(doc)))
        assert message in str(info.value), (doc, str(info.value))


def test_bad_zoo_entries_are_named_before_any_model_is_built(tmp_path):
    (tmp_path / "snap").mkdir()
    (tmp_path / "w.bin").write_bytes(b"")
    cases = [
        ({"name": "a", "snapshot": str(tmp_path / "snap")}, "no config.json"),
        ({"name": "a", "snapshot": "timm/vit_base_patch16_224.augreg_in21k"},
         "looks like a Hugging Face Hub id, not a local path: basesel downloads nothing. Fetch it first, e.g. "
         "`hf download timm/vit_base_patch16_224.augreg_in21k --local-dir models/a`"),
        ({"name": "a", "arch": "timm:resnet18", "weights": "hf-hub:timm/resnet18.a1_in1k"}, "looks like a Hugging Face Hub id"),
        ({"name": "a", "arch": "timm:resnet18", "weights": str(tmp_path / "missing.safetensors")}, "no such file"),
        ({"name": "a", "arch": "keras:resnet", "weights": str(tmp_path / "w.bin")}, "expected torchvision:NAME, timm:NAME"),
        ({"name": "a", "arch": "timm:resnet18"}, "give arch: (torchvision:NAME, timm:NAME or basesel) with weights"),
        ({"name": "a", "snapshot": str(tmp_path / "snap"), "arch": "timm:x"}, "a snapshot folder names its architecture"),
        ({"name": "a-b", "arch": "timm:x", "weights": str(tmp_path / "w.bin")}, "name 'a-b' must be letters"),
        ({"name": "a", "arch": "timm:x", "weights": str(tmp_path / "w.bin"), "gflops": 4.1}, "`gflops` is now `gmacs`"),
    ]
    for doc, message in cases:
        with pytest.raises(BaseselError) as info:
            entry(doc)
        assert message in str(info.value), (doc, str(info.value))
    twice = [{"name": "a", "arch": "timm:x", "weights": str(tmp_path / "w.bin")}] * 2
    with pytest.raises(BaseselError, match="two entries are named 'a'"):
        entries(twice)
    with pytest.raises(BaseselError, match="Hugging Face Hub id"):
        from_command_line("timm/resnet50.a1_in1k")


def test_a_bad_zoo_config_fails_before_any_job(tmp_path, resnet_weights):
    weights = str(resnet_weights / "r18.safetensors")
    zoo_cfg = [{"name": n, "arch": "torchvision:resnet18", "weights": weights} for n in ("a", "b", "a")]
    out = smk(tmp_path, "-n", config={"architectures": [], "zoo": zoo_cfg}, check=False)
    assert out.returncode != 0 and "two entries are named 'a'" in out.stdout + out.stderr
    out = smk(tmp_path, "-n", config={"architectures": [], "zoo": zoo_cfg[:2]}, check=False)
    assert out.returncode != 0 and "rank correlations across the zoo need at least 3" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


# --- the workflow ------------------------------------------------------------------------------------

def tiny_zoo(folder):
    """configs/zoo.yaml at the tiny config's size: two small targets, three demo models of one
    epoch, each written in another format."""
    import yaml

    cfg = yaml.safe_load((ROOT / "configs" / "zoo.yaml").read_text())
    keep = {"tv_resnet18_shapes", "convnext_colours", "vit_glyphs", "tv_shufflenet_textures"}
    demo = [{**d, "schedule": {"epochs": 1}, **({"model_args": {"img_size": 32, "patch_size": 8}}
                                                 if "model_args" in d else {})}
            for d in cfg["demo_weights"] if d["name"] in keep]
    return with_changes(cfg, source={"embedded": {"classes": 8, "train_per_class": 8, "val_per_class": 2,
                                                  "image_size": 32}},
                        targets=[{"name": "shapes", "embedded": {"kind": "shape", "classes": 3, "train_per_class": 6,
                                                                 "test_per_class": 4, "image_size": 32}},
                                 {"name": "colours", "embedded": {"kind": "colour", "classes": 3, "train_per_class": 6,
                                                                  "test_per_class": 4, "image_size": 32}}],
                        demo_weights=demo, zoo=[z for z in cfg["zoo"] if z["name"] in keep],
                        featuremaps={"probe_per_class": 3, "batch_size": 16},
                        finetune={"mode": "head", "schedule": {"epochs": 3, "batch_size": 8}},
                        analysis={"alpha_step": 0.05, "bootstrap": 20})


def test_a_zoo_alone_plans_no_subset_and_no_pretraining(tmp_path):
    config = tiny_zoo(tmp_path)
    plan = planned_jobs(tmp_path, config)
    assert not {"subset", "pretrain", "pretrain_whole", "layer_features", "curve_scores"} & set(plan.counts)
    pairs = 4 * 2
    assert {r: plan.counts[r] for r in ("zoo_model", "features", "featuremaps", "scores", "baselines",
                                        "finetune_head")} == {"zoo_model": 4, **dict.fromkeys(
                                            ["features", "featuremaps", "scores", "baselines", "finetune_head"], pairs)}
    assert plan.counts["demo_weights"] == 2 and plan.counts["demo_snapshot"] == 2
    assert {wc["arch"] for wc in plan.wildcards("features")} == {"zoo"}


def test_a_published_ground_truth_replaces_fine_tuning_for_the_pairs_it_covers(tmp_path):
    config = tiny_zoo(tmp_path)
    names = [z["name"] for z in config["zoo"]]
    rows = ["target\tmodel\taccuracy"] + [f"shapes\t{m}\t{0.5 + k / 10}" for k, m in enumerate(names)]
    (tmp_path / "gt.tsv").write_text("\n".join(rows) + "\n")
    plan = planned_jobs(tmp_path, {**config, "ground_truth": {"table": "gt.tsv"}})
    # shapes is in the table: none of its pairs is fine-tuned; colours is not: all of its are
    assert {wc["target"] for wc in plan.wildcards("finetune_head")} == {"colours"}
    assert plan.counts["finetune_head"] == len(names) and plan.counts["features"] == 2 * len(names)


@pytest.mark.parametrize("table, section, message", [
    ("target\tmodel\taccuracy\nshapes\ttv_resnet18_shapes\t0.5\n", {},
     "rows for these targets but not for tv_shufflenet_textures on shapes, convnext_colours on shapes, vit_glyphs on shapes"),
    ("target\tnet\taccuracy\n", {}, "no column model (its columns: target, net, accuracy"),
    ("target\tnet\tacc\nshapes\tvit_glyphs\t0.x\n", {"model": "net", "accuracy": "acc"},
     "line 2 (target 'shapes', model 'vit_glyphs'), column 'acc': '0.x' is not a number"),
    ("target\tmodel\taccuracy\ncars\tvit_glyphs\t0.5\n", {}, "has no row for any configured target (shapes, colours)"),
    (None, {}, "gt.tsv does not exist"),
])
def test_a_bad_ground_truth_fails_before_any_job(tmp_path, table, section, message):
    if table is not None:
        (tmp_path / "gt.tsv").write_text(table)
    out = smk(tmp_path, "-n", config={**tiny_zoo(tmp_path), "ground_truth": {"table": "gt.tsv", **section}}, check=False)
    assert out.returncode != 0 and message in out.stdout + out.stderr, (out.stdout + out.stderr)[-2000:]
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_tiny_zoo_runs_through_the_workflow(tmp_path):
    config = tiny_zoo(tmp_path)
    smk(tmp_path, config=config)
    smk(tmp_path, "--report", "results/report.html", config=config)
    results = tmp_path / "results"
    table = pd.read_csv(results / "analysis/table.tsv", sep="\t")
    assert set(table.arch) == {"zoo"} and len(table) == 8
    by_model = table.set_index(["source", "target"])
    # S5 and S6 where a ReLU makes zeros (the ResNet, the ShuffleNet); not applicable, with the
    # reason, for the ConvNeXt (GELU, residual sums) and the ViT (tokens)
    for model in ("convnext_colours", "vit_glyphs"):
        row = by_model.loc[(model, "shapes")]
        assert row.S5 == NOT_APPLICABLE and row.S6 == NOT_APPLICABLE
        assert "S5, S6: no element of the probed layer is exactly 0" in row.not_applicable
    assert float(by_model.loc[("tv_resnet18_shapes", "shapes"), "S5"]) > 0
    assert (table.source_val_acc == NOT_APPLICABLE).all()
    board = pd.read_csv(results / "analysis/leaderboard.tsv", sep="\t")
    assert {"S5", "S6", "C_56(0.574)", "source_val_acc"}.isdisjoint(board.score)  # left out of the rankings
    assert {"LogME", "S3", "LogME@probe"} <= set(board.score)
    summary = json.loads((results / "analysis/summary.json").read_text())
    assert summary["not_applicable"]["S5"] == ["zoo/colours", "zoo/shapes"]
    corr = pd.read_csv(results / "analysis/correlations.tsv", sep="\t")
    assert set(corr.arch) == {"zoo"} and "S5" not in set(corr.metric)
    # the C_56 tables say "not applicable" where S5 or S6 does not apply, never an empty cell
    sweep = pd.read_csv(results / "analysis/alpha_sweep.tsv", sep="\t", keep_default_na=False)
    assert (sweep.loc[sweep.pair == "C_56", ["zoo/colours", "zoo/shapes"]] == NOT_APPLICABLE).all().all()
    with_s56 = sweep.pair.str.contains("5|6")  # an empty cell elsewhere is an undefined rho (a constant score)
    assert (sweep.loc[with_s56, ["zoo/colours", "zoo/shapes", "mean"]] == NOT_APPLICABLE).all().all()
    c56 = pd.read_csv(results / "analysis/c56_summary.tsv", sep="\t", keep_default_na=False)
    assert (c56.basesel == NOT_APPLICABLE).all()  # S5 and S6 apply in neither group
    cards = {p.stem: json.loads(p.read_text()) for p in (results / "zoo").glob("*.json")}
    assert cards["vit_glyphs"]["preprocess"]["input_size"] == 32  # its snapshot's own data config
    assert cards["tv_resnet18_shapes"]["preprocess"]["input_size"] == 64  # the entry's
    assert (results / "zoo-demo" / "vit_glyphs" / "config.json").is_file()
    with h5py.File(results / "features/zoo/vit_glyphs/shapes.h5") as f:
        assert json.loads(f.attrs["preprocess"])["input_size"] == 32
    assert "scores_zoo.svg" in (results / "report.html").read_text(errors="ignore")
    assert leftovers(results) == []
    assert planned_jobs(tmp_path, config).counts == {}
    published_accuracies_give_the_same_analysis(tmp_path, config)
    # the zoo reads the demo's files as it reads a user's: new weights rerun that model's jobs alone
    (results / "zoo-demo" / "tv_resnet18_shapes.safetensors").touch()
    counts = planned_jobs(tmp_path, config).counts
    assert {r: counts.get(r) for r in ("zoo_model", "features", "featuremaps", "scores", "finetune_head",
                                       "demo_weights", "demo_snapshot")} == {
        "zoo_model": 1, "features": 2, "featuremaps": 2, "scores": 2, "finetune_head": 2, "demo_weights": None,
        "demo_snapshot": None}


def published_accuracies_give_the_same_analysis(workdir, config):
    """The run's own fine-tuned accuracies, at full precision, given as a published table to a copy
    of the run without its fine-tuning results: no fine-tuning job is planned, and the analysis is
    byte for byte the one of the run that fine-tuned; table.tsv says where each accuracy came from."""
    import shutil

    rows = ["target\tmodel\taccuracy"]
    for path in sorted((workdir / "results" / "finetune" / "zoo").glob("*/*.json")):
        rows.append(f"{path.stem}\t{path.parent.name}\t{json.loads(path.read_text())['accuracy']!r}")
    copy = workdir.parent / f"{workdir.name}-published"
    shutil.copytree(workdir, copy, symlinks=True)
    (copy / "gt.tsv").write_text("\n".join(rows) + "\n")
    shutil.rmtree(copy / "results" / "finetune")
    published = {**config, "ground_truth": {"table": "gt.tsv"}}
    plan = planned_jobs(copy, published)
    assert "finetune_head" not in plan.counts and {"table", "analysis"} <= set(plan.counts)
    smk(copy, config=published)
    before, after = workdir / "results" / "analysis", copy / "results" / "analysis"
    for name in ("correlations.tsv", "alpha_sweep.tsv", "best_alpha.tsv", "c56_summary.tsv", "leaderboard.tsv",
                 "summary.json"):
        assert (after / name).read_bytes() == (before / name).read_bytes(), name
    table = pd.read_csv(after / "table.tsv", sep="\t", keep_default_na=False)
    assert (table.pop("accuracy_source") == "published: gt.tsv").all()
    assert table.equals(pd.read_csv(before / "table.tsv", sep="\t", keep_default_na=False))
    assert "fine-tuning" not in set(pd.read_csv(after / "costs.tsv", sep="\t").score)  # nothing was fine-tuned
    assert not (copy / "results" / "finetune").exists()


def test_rank_takes_zoo_specs_and_says_what_it_fed(resnet_weights, target, tmp_path):
    from test_rank import basesel_rank

    vit = timm().create_model("vit_tiny_patch16_224", pretrained=False, num_classes=5, img_size=32, patch_size=8)
    timm().models.save_for_hf(vit, str(tmp_path / "vitsnap"), model_args={"img_size": 32, "patch_size": 8},
                              safe_serialization=True)
    zoo_file = tmp_path / "zoo.yaml"
    zoo_file.write_text(f"zoo:\n  - {{name: tvr18, arch: 'torchvision:resnet18', weights: "
                        f"{resnet_weights / 'r18.pth'}, preprocess: {{input_size: 64}}}}\n")
    root = tmp_path / "data"
    root.mkdir()
    (root / "train").symlink_to(Path(target.path.iloc[0]).parents[1])
    out = basesel_rank("--data", root, "--model", f"timm:resnet18={resnet_weights / 'r18.safetensors'}",
                       "--model", tmp_path / "vitsnap", "--model", zoo_file, "--probe-per-class", 3,
                       "--input-size", 64, "--out", tmp_path / "o")
    assert out.returncode == 0, out.stderr
    ranked = pd.read_csv(tmp_path / "o" / "rank.tsv", sep="\t").set_index("model")
    assert set(ranked.index) == {"r18", "vitsnap", "tvr18"}
    assert ranked.loc["vitsnap", "input_size"] == 32  # its snapshot's data config, not --input-size
    assert ranked.loc["r18", "input_size"] == 64  # a bare weights file: --input-size over timm's registry
    assert ranked.loc["vitsnap", "S5"] == NOT_APPLICABLE and "exactly 0" in ranked.loc["vitsnap", "not_applicable"]
    doc = json.loads((tmp_path / "o" / "rank.json").read_text())
    assert doc["ranked_by"] == "LogME@probe" and "C_56 does not apply to every candidate" in doc["why"]
    assert "vitsnap: timm:vit_tiny_patch16_224, probed layer blocks.11 tokens as a grid" in out.stdout
    assert "input 32 px, bicubic resize of the shorter side, centre crop 0.9, mean [0.5, 0.5, 0.5]" in out.stdout
    assert "nan" not in out.stdout.lower()
    one = basesel_rank("--data", root, "--model", tmp_path / "vitsnap", "--probe-per-class", 3, "--out", tmp_path / "o1")
    assert one.returncode == 0, one.stderr
    assert "none with one candidate" in one.stdout and "nan" not in one.stdout.lower()
    assert json.loads((tmp_path / "o1" / "rank.json").read_text())["agreement_kendall_tau"] is None


def test_rank_names_an_input_size_a_candidate_cannot_take_before_scoring_any(resnet_weights, target, tmp_path):
    """A ViT built for 224 px given --input-size 64 behind a ResNet that takes it: the error names the
    ViT and the size before the ResNet is scored, and no ranking is written."""
    from safetensors.torch import save_file

    from test_rank import basesel_rank

    vit = timm().create_model("vit_tiny_patch16_224", pretrained=False)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(tmp_path / "vit.safetensors"))
    root = tmp_path / "data"
    root.mkdir()
    (root / "train").symlink_to(Path(target.path.iloc[0]).parents[1])
    out = basesel_rank("--data", root, "--model", f"timm:resnet18={resnet_weights / 'r18.safetensors'}",
                       "--model", f"timm:vit_tiny_patch16_224={tmp_path / 'vit.safetensors'}",
                       "--probe-per-class", 3, "--input-size", 64, "--out", tmp_path / "o")
    assert out.returncode != 0
    assert "vit: an input of 64 px does not go through the model" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "probe set:" not in out.stderr  # named before any scoring
    assert not (tmp_path / "o" / "rank.tsv").exists()


def test_a_basesel_checkpoint_as_a_zoo_entry_reads_as_the_network_itself(tmp_path):
    """`arch: basesel` (a checkpoint of another run): the probed layer is the registry's, read as a
    hook on the network itself would read it, fed at the checkpoint's own input size."""
    from basesel.models.paper import ArchSpec, build_model, checkpoint_dict

    spec = ArchSpec("resnet18", 0.125, 48, 5)
    torch.manual_seed(0)
    model = build_model(spec).eval()
    torch.save(checkpoint_dict(model, spec, subset="cw2-0", val_acc=0.5, train_images=80), tmp_path / "m.pt")
    probed = zoo.open_entry(entry({"name": "ours", "arch": "basesel", "weights": str(tmp_path / "m.pt")}))
    x = torch.randn(2, 3, 48, 48)
    seen = {}
    handle = model.layer4.register_forward_hook(lambda m, i, o: seen.setdefault("map", o))
    with torch.no_grad():
        logits = model(x)
    handle.remove()
    cap = read(probed, x)
    assert torch.equal(cap.featuremap, seen["map"]) and torch.equal(cap.logits, logits)
    assert probed.preprocess.input_size == 48 and probed.attrs["source_val_acc"] == 0.5
    assert zoo.check_input(probed)[0] == tuple(seen["map"].shape[1:])


def test_pickled_requests_are_never_loaded(tmp_path):
    """A .pth holding code (an object whose unpickling runs a command) is refused, and nothing runs."""
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    with open(tmp_path / "evil.pth", "wb") as fh:
        pickle.dump({"conv1.weight": Evil()}, fh)
    with pytest.raises(BaseselError, match="refused for safety"):
        zoo.read_weights(tmp_path / "evil.pth")
    assert not marker.exists()
