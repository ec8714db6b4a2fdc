"""The Table 3 schedule, seeded determinism, and resuming a killed run to the same result."""
import pytest
import torch

from basesel.compute.schedule import Schedule
from basesel.compute.training import fit
from helpers import toy_data


def test_table3_is_the_default_and_overrides_apply_in_order():
    assert Schedule() == Schedule(epochs=30, lr=0.01, step_size=7, gamma=0.1, optimizer="sgd")
    merged = Schedule.from_config({"epochs": 8, "lr": 0.1}, {"epochs": 3}, None)
    assert (merged.epochs, merged.lr, merged.step_size) == (3, 0.1, 7)
    with pytest.raises(ValueError, match="epochz"):
        Schedule.from_config({"epochz": 3})


def test_step_schedule_and_log(tmp_path):
    model = torch.nn.Linear(5, 3)
    sched = Schedule(epochs=5, lr=0.01, step_size=2, gamma=0.1, batch_size=16)
    log = fit(model, toy_data(), toy_data(seed=1), sched, seed=0, resume_path=tmp_path / "r.pt", log_path=tmp_path / "log.tsv")
    assert log.lr.tolist() == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001])
    assert list(log.columns) == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
    assert (tmp_path / "log.tsv").exists()
    # the state after the last epoch but one stays for the caller to remove (clear_resume) once its
    # outputs are written; the last epoch's own is never saved
    assert torch.load(tmp_path / "r.pt", weights_only=True)["epoch"] == 4


class Killed(Exception):
    pass


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    sched = Schedule(epochs=4, lr=0.05, step_size=2, batch_size=8)
    torch.manual_seed(0)
    straight = torch.nn.Linear(5, 3)
    init = {k: v.clone() for k, v in straight.state_dict().items()}
    log_a = fit(straight, toy_data(), toy_data(seed=1), sched, seed=7, resume_path=tmp_path / "a.pt", log_path=tmp_path / "a.tsv")

    calls = {"n": 0}

    def dies_in_epoch_three(x):
        calls["n"] += 1
        if calls["n"] == 2 * 8 + 3:  # 8 training batches an epoch; die mid-epoch 3
            raise Killed
        return x

    model = torch.nn.Linear(5, 3)
    model.load_state_dict(init)
    with pytest.raises(Killed):
        fit(model, toy_data(), toy_data(seed=1), sched, seed=7, resume_path=tmp_path / "b.pt", log_path=tmp_path / "b.tsv",
            prepare=dies_in_epoch_three)
    assert not (tmp_path / "b.tsv").exists()  # no log that looks complete
    assert torch.load(tmp_path / "b.pt", weights_only=True)["epoch"] == 2

    fresh = torch.nn.Linear(5, 3)  # a new process: different weights until the resume loads
    log_b = fit(fresh, toy_data(), toy_data(seed=1), sched, seed=7, resume_path=tmp_path / "b.pt", log_path=tmp_path / "b.tsv")
    for k, v in straight.state_dict().items():
        assert torch.allclose(v, fresh.state_dict()[k])
    assert log_b.drop(columns="seconds").equals(log_a.drop(columns="seconds"))


def test_resume_file_is_written_once_its_interval_has_passed(tmp_path, monkeypatch):
    """With resume_every=60 and epochs of 25 s (a clock the epoch hook advances), the resume file is
    written after epochs 3 and 6 (75 s after the start and after the last write), and a run killed
    in epoch 8 resumes from epoch 6 to the log of an uninterrupted run; None writes no file."""
    from basesel.compute import training

    clock = {"now": 0.0}
    monkeypatch.setattr(training.time, "monotonic", lambda: clock["now"])
    saved, kills = [], []

    def epoch_of_25_seconds(path):
        def hook(model, epoch):
            saved.append(torch.load(path, weights_only=True)["epoch"] if path.exists() else None)
            clock["now"] += 25.0
            if epoch == 8 and path.name == "killed.pt" and not kills:
                kills.append(epoch)
                raise Killed
            return {}
        return hook

    sched = Schedule(epochs=9, lr=0.05, step_size=4, batch_size=8)
    torch.manual_seed(0)
    init = torch.nn.Linear(5, 3).state_dict()

    def run(name, **kwargs):
        model = torch.nn.Linear(5, 3)
        model.load_state_dict(init)
        path = tmp_path / f"{name}.pt"
        kwargs.setdefault("resume_path", path)
        return fit(model, toy_data(), toy_data(seed=1), sched, seed=7, log_path=tmp_path / f"{name}.tsv",
                   epoch_hook=epoch_of_25_seconds(path), resume_every=60, **kwargs), model

    straight, model_a = run("straight")
    # what each epoch's hook found (the file is written after the hook): after epochs 3 and 6, not after 9, the last
    assert saved == [None, None, None, 3, 3, 3, 6, 6, 6]
    saved.clear()
    with pytest.raises(Killed):
        run("killed")
    assert torch.load(tmp_path / "killed.pt", weights_only=True)["epoch"] == 6
    saved.clear()
    resumed, model_b = run("killed")
    assert saved == [6, 6, 6]  # epochs 7..9 only
    assert resumed.drop(columns="seconds").equals(straight.drop(columns="seconds"))
    assert all(torch.equal(v, model_b.state_dict()[k]) for k, v in model_a.state_dict().items())
    saved.clear()
    no_file, _ = run("none", resume_path=None)
    assert not (tmp_path / "none.pt").exists() and saved == [None] * 9
    assert no_file.drop(columns="seconds").equals(straight.drop(columns="seconds"))


def test_resume_file_with_other_settings_is_ignored(tmp_path):
    sched = Schedule(epochs=3, lr=0.05, batch_size=8)
    fit(torch.nn.Linear(5, 3), toy_data(), toy_data(), sched, seed=1, resume_path=tmp_path / "r.pt", log_path=tmp_path / "l.tsv")
    other = Schedule(epochs=3, lr=0.01, batch_size=8)
    log = fit(torch.nn.Linear(5, 3), toy_data(), toy_data(), other, seed=1, resume_path=tmp_path / "r.pt", log_path=tmp_path / "l.tsv")
    assert len(log) == 3 and log.lr.iloc[0] == pytest.approx(0.01)
    wider = torch.nn.Linear(5, 4)  # other shapes: the stale state must not be loaded into it
    log = fit(wider, toy_data(), toy_data(), sched, seed=1, resume_path=tmp_path / "r.pt", log_path=tmp_path / "l.tsv")
    assert len(log) == 3


def test_seeded_runs_are_identical(tmp_path):
    sched = Schedule(epochs=2, lr=0.05, batch_size=8)
    outs = []
    for i in range(2):
        torch.manual_seed(3)
        m = torch.nn.Linear(5, 3)
        fit(m, toy_data(), toy_data(), sched, seed=5, resume_path=tmp_path / f"{i}.pt", log_path=tmp_path / f"{i}.tsv")
        outs.append(m.weight.detach().clone())
    assert torch.equal(outs[0], outs[1])


def test_batches_of_a_decoded_dataset_are_the_dataloaders(tmp_path):
    """Whole-batch indexing gives the DataLoader's batches, values and random draws, epoch after epoch."""
    from basesel.compute.training import _batches

    data = toy_data(n=70)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(3):
        fast = list(_batches(data, 16, True, g1, 0, False))
        slow = list(torch.utils.data.DataLoader(data, batch_size=16, shuffle=True, generator=g2))
        assert len(fast) == len(slow) == 5
        for (xa, ya), (xb, yb) in zip(fast, slow):
            assert torch.equal(xa, xb) and torch.equal(ya, yb) and ya.dtype == yb.dtype
    assert torch.equal(g1.get_state(), g2.get_state())
    # In order, as evaluate() reads: the same batches, and the same draws from torch's global
    # generator (a DataLoader's base seed; dropout draws from that generator after it).
    torch.manual_seed(8)
    ordered = list(_batches(data, 32, False, None, 0, False))
    after_fast = torch.get_rng_state()
    torch.manual_seed(8)
    loader = list(torch.utils.data.DataLoader(data, batch_size=32, shuffle=False))
    assert torch.equal(torch.cat([x for x, _ in ordered]), data.tensors[0])
    assert all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(ordered, loader))
    assert torch.equal(after_fast, torch.get_rng_state())


def test_epoch_sums_equal_the_loss_and_accuracy_of_the_whole_split(tmp_path):
    """With lr 0 the weights never move, so an epoch's train_loss and train_acc (summed on the
    device batch by batch, read once) are the cross-entropy and accuracy of the model on the split."""
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)
    data = toy_data(n=70)
    x, y = data.tensors
    with torch.no_grad():
        out = model(x)
    log = fit(model, data, toy_data(seed=1), Schedule(epochs=2, lr=0.0, batch_size=16), seed=0,
              resume_path=tmp_path / "r.pt", log_path=tmp_path / "l.tsv")
    assert log.train_loss.tolist() == pytest.approx([float(torch.nn.functional.cross_entropy(out, y))] * 2, rel=1e-6)
    assert log.train_acc.tolist() == [int((out.argmax(1) == y).sum()) / len(y)] * 2


def test_mixed_precision_choices():
    from basesel.compute.training import mixed_precision

    assert mixed_precision(torch.device("cpu")) == (None, None)  # full precision on the CPU
    assert mixed_precision(torch.device("cpu"), "bfloat16") == (torch.bfloat16, None)
    dtype, scaler = mixed_precision(torch.device("cpu"), "float16")
    assert dtype is torch.float16 and isinstance(scaler, torch.amp.GradScaler)
    with pytest.raises(ValueError, match="float8"):
        mixed_precision(torch.device("cpu"), "float8")


def test_float16_training_with_its_scaler_learns_and_resumes(tmp_path):
    """The float16 path (a gradient scaler; what a GPU without bfloat16 runs) on the CPU: it learns
    what float32 learns, and a killed run resumes, scaler state included, to the same weights."""
    sched = Schedule(epochs=4, lr=0.1, step_size=10, batch_size=8)
    torch.manual_seed(0)
    init = torch.nn.Linear(5, 3).state_dict()

    def run(name, precision, prepare=lambda x: x):
        model = torch.nn.Linear(5, 3)
        model.load_state_dict(init)
        log = fit(model, toy_data(), toy_data(seed=1), sched, seed=2, resume_path=tmp_path / f"{name}.pt",
                  log_path=tmp_path / f"{name}.tsv", precision=precision, prepare=prepare)
        return model, log

    full, log32 = run("f32", "float32")
    half, log16 = run("f16", "float16")
    assert log16.train_loss.iloc[-1] < 0.8 * log16.train_loss.iloc[0]
    assert log16.train_loss.tolist() == pytest.approx(log32.train_loss.tolist(), rel=0.02)
    assert torch.allclose(half.weight, full.weight, atol=0.02)

    calls = {"n": 0}

    def dies_in_epoch_three(x):
        calls["n"] += 1
        if calls["n"] == 2 * 8 + 3:
            raise Killed
        return x

    with pytest.raises(Killed):
        run("killed", "float16", dies_in_epoch_three)
    assert "scaler" in torch.load(tmp_path / "killed.pt", weights_only=True)
    resumed, log_resumed = run("killed", "float16")
    assert torch.equal(resumed.weight, half.weight)
    assert log_resumed.drop(columns="seconds").equals(log16.drop(columns="seconds"))


def test_a_diverging_loss_stops_training_before_the_epoch_is_saved(tmp_path):
    def poisoned(x):
        return x * float("nan")

    with pytest.raises(FloatingPointError, match="epoch 1"):
        fit(torch.nn.Linear(5, 3), toy_data(), toy_data(), Schedule(epochs=3, lr=0.1, batch_size=8), seed=0,
            resume_path=tmp_path / "r.pt", log_path=tmp_path / "l.tsv", prepare=poisoned)
    assert not (tmp_path / "r.pt").exists() and not (tmp_path / "l.tsv").exists()


def test_cpu_training_flushes_subnormals_and_restores_them_afterwards(tmp_path):
    tiny = torch.tensor([1e-39])  # subnormal in float32 (smallest normal: 1.18e-38)
    seen = []

    def probe(model, epoch):
        seen.append(float(tiny * 1.0))  # arithmetic on a subnormal flushes it to zero when flushing is on
        return {}

    def failing(model, epoch):
        probe(model, epoch)
        raise Killed

    assert float(tiny * 1.0) > 0
    fit(torch.nn.Linear(5, 3), toy_data(), toy_data(), Schedule(epochs=2, batch_size=16), seed=0,
        resume_path=tmp_path / "r.pt", log_path=tmp_path / "l.tsv", device=torch.device("cpu"), epoch_hook=probe)
    assert seen == [0.0, 0.0]
    assert float(tiny * 1.0) > 0
    with pytest.raises(Killed):
        fit(torch.nn.Linear(5, 3), toy_data(), toy_data(), Schedule(epochs=2, batch_size=16), seed=0,
            resume_path=tmp_path / "r2.pt", log_path=tmp_path / "l2.tsv", device=torch.device("cpu"),
            epoch_hook=failing)
    assert float(tiny * 1.0) > 0  # restored even when training fails


def test_full_fine_tuning_trains_the_backbone(tmp_path):
    """finetune.mode full: every layer of the base model moves, not only the new head (which a
    head-only optimiser, or a frozen backbone left over from head fine-tuning, would leave as it was)."""
    from basesel.compute.finetune import finetune_full
    from basesel.data import synthetic
    from basesel.data.folders import index_dataset
    from basesel.models.paper import ArchSpec, build_model, probed

    root = tmp_path / "shapes"
    synthetic.generate_target(root, kind="shape", seed=0, num_classes=3, train_per_class=6, test_per_class=2, size=32)
    index = index_dataset(root, ("train", "test"))
    torch.manual_seed(0)
    spec = ArchSpec("resnet18", 0.125, 32, 5)
    model = probed(build_model(spec).eval(), spec, "m")
    before = {k: v.clone() for k, v in model.model.named_parameters() if not k.startswith("fc.")}
    result = finetune_full(model, index, Schedule(epochs=1, batch_size=6, lr=0.05), seed=0,
                           resume_path=tmp_path / "resume.pt", log_path=tmp_path / "log.tsv", device=torch.device("cpu"),
                           label="m", budget=100, workers=0)
    after = dict(model.model.named_parameters())
    assert result["mode"] == "full" and after["fc.weight"].shape == (3, 64)  # the new head, for 3 classes
    assert [k for k in before if torch.equal(before[k], after[k])] == []  # every backbone tensor trained
