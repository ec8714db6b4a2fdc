"""`basesel rank`: a known ordering on embedded data, output formats, and clear errors for bad input."""
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from basesel.compute.schedule import Schedule
from basesel.compute.training import fit
from basesel.data import synthetic
from basesel.data.folders import index_dataset
from basesel.data.images import image_dataset, normalise
from basesel.models.paper import ArchSpec, build_model, checkpoint_dict
from basesel.science.transfer.logme import logme
from helpers import direct_logme


def basesel_rank(*args):
    """`basesel rank ARGS`, in this process (the command line's own entry point, without paying
    torch's import again): its exit status and what it printed."""
    import contextlib
    import io
    from types import SimpleNamespace

    from basesel.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["rank", *map(str, args)])
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rank")
    # Source: colour classes only; target: new colour classes. A model trained on the source should
    # separate the target's classes better than the same architecture with random weights.
    src = tmp / "src"
    synthetic.generate_target(src, kind="colour", seed=11, num_classes=8, train_per_class=30, test_per_class=5, size=64)
    index = index_dataset(src, ("train", "test"))
    tr, te = index[index.split == "train"], index[index.split == "test"]
    spec = ArchSpec("resnet18", 0.125, 64, 8)
    torch.manual_seed(0)
    trained = build_model(spec)
    fit(trained, image_dataset(tr.path, tr.label, 64, 512), image_dataset(te.path, te.label, 64, 512),
        Schedule(epochs=6, lr=0.05, batch_size=16), seed=0, resume_path=tmp / "r.pt", log_path=tmp / "log.tsv",
        prepare=normalise)
    torch.save(checkpoint_dict(trained, spec), tmp / "trained.pt")
    torch.manual_seed(1)
    torch.save(checkpoint_dict(build_model(spec), spec), tmp / "random.pt")
    target = tmp / "target"
    synthetic.generate_target(target, kind="colour", seed=12, num_classes=4, train_per_class=12, test_per_class=4, size=64)
    return tmp, target


def test_trained_related_model_ranks_above_random_weights(setup):
    tmp, target = setup
    out = basesel_rank("--data", target, "--model", tmp / "trained.pt", "--model", tmp / "random.pt",
                       "--scores", "LogME@probe", "C_56", "S1", "S2", "S3", "S4", "S5", "S6", "--out", tmp / "o1")
    assert out.returncode == 0, out.stderr
    ranked = pd.read_csv(tmp / "o1" / "rank.tsv", sep="\t")
    assert ranked.model.tolist() == ["trained", "random"]  # by LogME on the probe set, the first score given
    assert ranked.columns.tolist()[:10] == ["rank", "model", "LogME@probe", "C_56", "S1", "S2", "S3", "S4", "S5", "S6"]
    # every baseline whose inputs a candidate provides, on the probe set: the source head gives LEEP and NCE
    assert {"LEEP@probe", "NCE@probe", "SFDA@probe", "NLEEP@probe"} <= set(ranked.columns)
    assert (ranked.layer == "layer4.1").all() and (ranked.input_size == 64).all()  # archs.py's probed layer
    assert ranked.set_index("model").S3["trained"] > ranked.set_index("model").S3["random"]
    def scaled(x):  # min-max to [-1, 1] over the two candidates, negated (smaller is better)
        return -(2 * (x - x.min()) / (x.max() - x.min()) - 1)
    assert ranked.C_56.to_numpy() == pytest.approx((0.426 * scaled(ranked.S5) + 0.574 * scaled(ranked.S6)).to_numpy(),
                                                   abs=1e-5)
    doc = json.loads((tmp / "o1" / "rank.json").read_text())
    assert doc["ranked_by"] == "LogME@probe" and doc["probe_images"] == 40 and len(doc["candidates"]) == 2
    # agreement with the ranking used: +1 where a score orders the two candidates the same way, -1 reversed
    first, second = doc["candidates"]  # full precision (rank.tsv has 6 digits)
    assert first["LogME@probe"] > second["LogME@probe"]
    for score, tau in doc["agreement_kendall_tau"].items():
        sign = -1 if score in ("S2", "S4", "S5", "S6") else 1
        a, b = sign * first[score], sign * second[score]
        assert tau == (np.sign(a - b) if a != b else "nan"), score
    assert "agreement with that ranking" in out.stdout and "LEEP@probe" in out.stdout
    assert (tmp / "o1" / "rank.svg").stat().st_size > 1000
    assert re.search(r"^\s*1\s+trained\s", out.stdout, re.M)  # the ranking, best first
    # each candidate's probed layer and the input it was fed
    assert "trained: resnet18, probed layer layer4.1; input 64 px, square bilinear resize, ImageNet mean/std" in out.stdout
    assert "40/40 images" in out.stderr  # the progress bar


def test_rank_by_a_runs_leaderboard_winner_on_all_training_images(setup, tmp_path):
    tmp, target = setup
    summary = {"c56": {"best_alpha": 0.25}, "leaderboard_by_weighted_tau": ["source_val_acc", "NLEEP", "S3"]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    out = basesel_rank("--data", target, "--model", tmp / "trained.pt", "--model", tmp / "random.pt",
                       "--analysis", tmp_path / "summary.json", "--out", tmp_path / "o")
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "o" / "rank.json").read_text())
    # source_val_acc is a property of the workflow's own base models: the first score rank can compute
    assert doc["ranked_by"] == "NLEEP" and doc["alpha"] == 0.25
    assert "leaderboard winner" in doc["why"] and "leaderboard winner" in out.stdout
    assert "all 48 training images" in out.stderr  # NLEEP as the workflow computes it: every training image
    ranked = pd.read_csv(tmp_path / "o" / "rank.tsv", sep="\t").set_index("model")
    # C_56 at the run's alpha 0.25, and at the paper's 0.574 beside it: no column that repeats another
    def scaled(x):  # min-max to [-1, 1] over the two candidates, negated (smaller is better)
        return -(2 * (x - x.min()) / (x.max() - x.min()) - 1)
    s5, s6 = scaled(ranked.S5), scaled(ranked.S6)
    assert ranked.C_56.to_numpy() == pytest.approx((0.75 * s5 + 0.25 * s6).to_numpy(), abs=1e-5)
    assert ranked["C_56(0.574)"].to_numpy() == pytest.approx((0.426 * s5 + 0.574 * s6).to_numpy(), abs=1e-5)
    assert "C_56(LOGO)" not in ranked.columns
    assert "C_56 = (1 - alpha) S5' + alpha S6' at alpha 0.25 (the best alpha of" in out.stdout


def test_torchvision_weights_and_train_subfolder(setup, tmp_path):
    tmp, target = setup
    torch.manual_seed(0)
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=5).state_dict(), tmp_path / "mnv3.pth")
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pth")
    data = tmp_path / "data"
    (data).mkdir()
    (data / "train").symlink_to(target / "train")
    out = basesel_rank("--data", data, "--model", f"mobilenet_v3_small={tmp_path / 'mnv3.pth'}",
                       "--model", f"resnet18={tmp_path / 'r18.pth'}", "--input-size", 64, "--alpha", 0.5,
                       "--probe-per-class", 5, "--out", tmp_path / "o")
    assert out.returncode == 0, out.stderr
    ranked = pd.read_csv(tmp_path / "o" / "rank.tsv", sep="\t").set_index("model")
    assert ranked.loc["mnv3", "layer"] == "features.12"
    assert ranked.loc["r18", "layer"] == "layer4"  # a torchvision ResNet: its last block
    # MobileNetV3's last block ends in a hardswish: no exact zeros here, so S5, S6 and C_56 do not
    # apply to it, and the default ranking (C_56 first) rests on the next default score instead
    mnv3 = ranked.loc["mnv3"]
    assert (mnv3.S5, mnv3.S6, mnv3.C_56) == ("not applicable",) * 3
    assert "S5, S6: no element of the probed layer is exactly 0" in mnv3.not_applicable
    assert float(ranked.loc["r18", "S5"]) > 0 and float(ranked.loc["r18", "C_56"]) == 0  # one candidate: no range
    doc = json.loads((tmp_path / "o" / "rank.json").read_text())
    assert doc["ranked_by"] == "LogME@probe" and "C_56 does not apply to every candidate" in doc["why"]
    assert "C_56(0.574)" in ranked.columns and "C_56(LOGO)" not in ranked.columns


@pytest.mark.parametrize("make,message", [
    (lambda d, t: ["--model", f"resnet999={d / 'r18.pth'}"], "unknown torchvision architecture 'resnet999'"),
    (lambda d, t: ["--model", f"resnet34={d / 'r18.pth'}"], "weights do not fit torchvision:resnet34: missing layer1.2.conv1.weight"),
    (lambda d, t: ["--model", f"resnet18={d / 'pickled.pth'}"], "weights_only=True"),
    (lambda d, t: ["--model", str(d / "missing.pt")], "no such file"),
    (lambda d, t: ["--model", str(d / "r18.pth")], "not a basesel checkpoint"),
])
def test_bad_models(setup, tmp_path, make, message):
    _, target = setup
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pth")
    torch.save(torchvision.models.resnet18(), tmp_path / "pickled.pth")  # a whole pickled module
    out = basesel_rank("--data", target / "train", *make(tmp_path, target), "--out", tmp_path / "o")
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_bad_folders(setup, tmp_path):
    tmp, target = setup
    one = tmp_path / "one" / "onlyclass"
    one.mkdir(parents=True)
    for p in list((target / "train" / "colour00").glob("*.png")):
        (one / p.name).write_bytes(p.read_bytes())
    out = basesel_rank("--data", tmp_path / "one", "--model", tmp / "random.pt", "--out", tmp_path / "o")
    assert out.returncode == 2 and "1 class" in out.stderr
    (tmp_path / "one" / "other").mkdir()
    for p in list((target / "train" / "colour01").glob("*.png")):
        (tmp_path / "one" / "other" / p.name).write_bytes(p.read_bytes())
    (tmp_path / "one" / "other" / "zz.png").write_bytes(b"not an image")
    out = basesel_rank("--data", tmp_path / "one", "--model", tmp / "random.pt", "--out", tmp_path / "o")
    assert out.returncode == 2 and "zz.png" in out.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("n,d", [(60, 8), (20, 40)])
def test_logme_matches_direct_implementation_and_orders(n, d):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=n)
    f = rng.normal(size=(n, d))
    assert logme(f, y) == pytest.approx(direct_logme(f, y), rel=1e-6)
    separable = f + 4 * np.eye(d)[y % d]
    assert logme(separable, y) > logme(f, y)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    assert logme(f @ q, y) == pytest.approx(logme(f, y), rel=1e-6)  # invariant to rotating features
