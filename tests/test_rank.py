"""`basesel rank`: a known ordering on embedded data, output formats, and clear errors for bad input."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from basesel import synthetic
from basesel.data import image_dataset, index_dataset, normalise
from basesel.transfer.logme import logme
from basesel.models import ArchSpec, build_model, checkpoint_dict
from basesel.training import Schedule, fit


def basesel_rank(*args):
    return subprocess.run([sys.executable, "-m", "basesel.cli", "rank", *map(str, args)], capture_output=True, text=True)


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
                       "--scores", "LogME", "C_56", "S1", "S2", "S3", "S4", "S5", "S6", "--out", tmp / "o1")
    assert out.returncode == 0, out.stderr
    ranked = pd.read_csv(tmp / "o1" / "rank.tsv", sep="\t")
    assert ranked.model.tolist() == ["trained", "random"]  # by LogME, the first score given
    assert ranked.columns.tolist() == ["rank", "model", "LogME", "C_56", "S1", "S2", "S3", "S4", "S5", "S6", "layer", "input_size"]
    assert (ranked.layer == "layer4").all() and (ranked.input_size == 64).all()
    assert ranked.set_index("model").S3["trained"] > ranked.set_index("model").S3["random"]
    doc = json.loads((tmp / "o1" / "rank.json").read_text())
    assert doc["ranked_by"] == "LogME" and doc["probe_images"] == 40 and len(doc["candidates"]) == 2
    assert (tmp / "o1" / "rank.svg").stat().st_size > 1000
    assert "rank" in out.stdout and "trained" in out.stdout.splitlines()[1]
    assert "40/40 images" in out.stderr  # the progress bar


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
    assert ranked.loc["mobilenet_v3_small:mnv3", "layer"] == "features.12"
    assert ranked.loc["resnet18:r18", "layer"] == "layer4"
    def scaled(x):  # min-max to [-1, 1] over the two candidates, negated (smaller is better)
        return -(2 * (x - x.min()) / (x.max() - x.min()) - 1)
    assert ranked.C_56.to_numpy() == pytest.approx(0.5 * scaled(ranked.S5) + 0.5 * scaled(ranked.S6))


@pytest.mark.parametrize("make,message", [
    (lambda d, t: ["--model", f"resnet999={d / 'x.pth'}"], "unknown torchvision architecture 'resnet999'"),
    (lambda d, t: ["--model", f"resnet34={d / 'r18.pth'}"], "weights do not match resnet34"),
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


def direct_logme(f, y):
    """The published fixed point written with explicit d x d matrices (a second implementation)."""
    n, d = f.shape
    out = []
    for k in np.unique(y):
        t = (y == k).astype(float)
        alpha, beta = 1.0, 1.0
        ftf, lam = f.T @ f, np.linalg.eigvalsh(f.T @ f)
        for _ in range(100):
            a = alpha * np.eye(d) + beta * ftf
            m = beta * np.linalg.solve(a, f.T @ t)
            gamma = (beta * lam / (alpha + beta * lam)).sum()
            na, nb = gamma / (m @ m), (n - gamma) / ((t - f @ m) @ (t - f @ m))
            done = abs(na / nb - alpha / beta) / (alpha / beta) < 1e-3
            alpha, beta = na, nb
            if done:
                break
        a = alpha * np.eye(d) + beta * ftf
        m = beta * np.linalg.solve(a, f.T @ t)
        ev = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.linalg.slogdet(a)[1]
              - beta / 2 * ((t - f @ m) @ (t - f @ m)) - alpha / 2 * (m @ m) - n / 2 * np.log(2 * np.pi))
        out.append(ev / n)
    return np.mean(out)


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
