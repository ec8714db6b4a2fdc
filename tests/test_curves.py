"""Figure 1: the source probe, the feature norm, checkpoints per epoch surviving a kill, the per-epoch
scores measured from checkpoints equal to scores measured during training, and the statistics."""
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn

from basesel import BaseselError
from basesel.compute.curves import EpochCheckpoints, checkpoint_name, epoch_scores, feature_norm, probe_scores
from basesel.compute.schedule import Schedule
from basesel.compute.training import fit
from basesel.data.images import normalise
from basesel.data.subsets import probe_rows
from basesel.models.paper import ArchSpec, build_model, load_checkpoint
from basesel.science.experiments import TRACKED, curve_correlations, read_curves, standardise
from basesel.science.featuremap_scores import METRICS, paper_scores
from basesel.science.stats import correlation
from helpers import direct_forward, toy_data

CPU = torch.device("cpu")


def test_source_probe_takes_all_of_a_short_class():
    val = pd.DataFrame({"label": np.repeat([0, 1, 2], [5, 2, 12])})
    val["class"] = val.label.map(lambda k: f"c{k}")
    picks = probe_rows(val, 4, seed=7, short="all")
    assert np.bincount(val.label.to_numpy()[picks]).tolist() == [4, 2, 4]
    assert len(set(picks)) == len(picks) and (np.diff(picks) > 0).all()
    assert not (probe_rows(val, 4, seed=8, short="all") == picks).all()
    enough = val[val.label != 1].reset_index(drop=True)  # where no class is short: the target probe's draw
    assert (probe_rows(enough, 4, seed=7, short="all") == probe_rows(enough, 4, seed=7)).all()
    with pytest.raises(BaseselError, match="'c1' has 2 training images"):
        probe_rows(val, 4, seed=7)
    with pytest.raises(BaseselError, match="no images"):
        probe_rows(val.iloc[:0], 4, seed=0, short="all")


def test_feature_norm_by_hand():
    f = np.zeros((2, 3, 2, 2))
    f[0] = 2.0  # 12 elements of 2: norm sqrt(48)
    f[1, 0, 0, 0], f[1, 1, 1, 1] = 3.0, 4.0  # norm 5
    np.testing.assert_allclose(feature_norm(f), [np.sqrt(48), 5.0])


def test_probe_scores_are_the_probe_layers_scores():
    torch.manual_seed(0)
    spec = ArchSpec("vgg16", 0.125, 32, 5)
    model = build_model(spec).eval()
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.arange(12) % 3
    out = probe_scores(model, spec, torch.utils.data.TensorDataset(images, labels), batch_size=5, device=CPU)
    fm = direct_forward(model, "vgg16", normalise(images))[0].numpy().astype(np.float64)
    assert set(out) == set(TRACKED)
    assert {m: out[m] for m in METRICS} == pytest.approx(paper_scores(fm, labels.numpy()), rel=1e-9)
    assert out["feature_norm"] == pytest.approx(np.linalg.norm(fm.reshape(12, -1), axis=1).mean(), rel=1e-9)


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
    with pytest.raises(ValueError, match="val_acc"):
        fit(nn.Linear(5, 3), toy_data(), toy_data(), sched, seed=0, resume_path=tmp_path / "x.pt",
            log_path=tmp_path / "x.tsv", epoch_hook=lambda m, e: {"val_acc": 1.0})


class Killed(Exception):
    pass


def test_checkpoints_survive_a_kill_and_score_as_during_training(tmp_path):
    """A killed-and-resumed run keeps the same checkpoints as an uninterrupted one; the scores
    measured afterwards on each checkpoint equal the scores measured during training."""
    spec = ArchSpec("resnet18", 0.125, 64, 3)
    g = torch.Generator().manual_seed(0)
    train = torch.utils.data.TensorDataset(torch.randint(0, 256, (24, 3, 64, 64), dtype=torch.uint8, generator=g),
                                           torch.arange(24) % 3)
    val = torch.utils.data.TensorDataset(torch.randint(0, 256, (12, 3, 64, 64), dtype=torch.uint8, generator=g),
                                         torch.arange(12) % 3)
    sched = Schedule(epochs=3, lr=0.05, step_size=2, batch_size=8)
    during = {}

    def run(name, prepare=normalise):
        torch.manual_seed(0)
        model = build_model(spec)
        keep = EpochCheckpoints(spec, tmp_path / name, sched.epochs)

        def hook(m, epoch):  # the old way, for comparison: scores measured inside the training loop
            during.setdefault(name, {})[epoch] = probe_scores(m, spec, val, batch_size=5, device=CPU)
            return keep(m, epoch)

        log = fit(model, train, val, sched, seed=4, resume_path=tmp_path / f"{name}.pt", log_path=tmp_path / f"{name}.tsv",
                  device=CPU, prepare=prepare, epoch_hook=hook)
        return model, log

    straight, log_a = run("a")
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
    names = [checkpoint_name(e, 3) for e in (1, 2, 3)]
    assert names == ["model_epoch01.pt", "model_epoch02.pt", "model_epoch03.pt"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == names
    for name in names:
        a, _, ckpt = load_checkpoint(tmp_path / "a" / name)
        b, _, _ = load_checkpoint(tmp_path / "b" / name)
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    last, _, _ = load_checkpoint(tmp_path / "a" / names[-1])
    assert all(torch.equal(v, last.state_dict()[k]) for k, v in straight.state_dict().items())
    # measured afterwards from the checkpoints: exactly the values measured during training
    after = epoch_scores([tmp_path / "a" / n for n in names], val, margin=1.0, batch_size=5)
    assert after.epoch.tolist() == [1, 2, 3]
    for row in after.itertuples():
        assert {m: getattr(row, m) for m in TRACKED} == during["a"][row.epoch]


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


def test_curve_correlations_and_reading_curves(tmp_path):
    acc = np.array([0.1, 0.3, 0.35, 0.5, 0.45])
    epochs = pd.DataFrame({"epoch": range(1, 6), "val_acc": acc})
    scores = pd.DataFrame({"epoch": range(5, 0, -1), "S1": (2 * acc + 1)[::-1], "S2": -acc[::-1], "S3": (acc ** 3)[::-1],
                           "S4": [5, 1, 2, 3, 4.0][::-1], "S5": np.ones(5), "S6": acc, "feature_norm": acc[::-1]})
    epochs.to_csv(tmp_path / "epochs.tsv", sep="\t", index=False)
    scores.to_csv(tmp_path / "scores.tsv", sep="\t", index=False)
    curves = read_curves(tmp_path / "epochs.tsv", tmp_path / "scores.tsv")
    assert curves.epoch.tolist() == [1, 2, 3, 4, 5] and curves.S1.tolist() == pytest.approx(2 * acc + 1)
    out = curve_correlations({"alexnet": curves}).set_index("metric")
    assert out.rho["S1"] == pytest.approx(1) and out.pearson_r["S1"] == pytest.approx(1)
    assert out.rho["S2"] == pytest.approx(-1) and out.pearson_r["S2"] == pytest.approx(-1)
    assert out.rho["S3"] == pytest.approx(1) and out.pearson_r["S3"] < 1
    assert out.rho["S4"] == pytest.approx(stats.spearmanr([5, 1, 2, 3, 4.0], acc).statistic)
    assert np.isnan(out.rho["S5"]) and (out.epochs == 5).all() and out["last"]["S6"] == 0.1
    with pytest.raises(BaseselError, match="feature_norm"):
        curve_correlations({"alexnet": curves.drop(columns="feature_norm")})
    scores.iloc[:4].to_csv(tmp_path / "short.tsv", sep="\t", index=False)
    with pytest.raises(BaseselError, match="epochs"):
        read_curves(tmp_path / "epochs.tsv", tmp_path / "short.tsv")
