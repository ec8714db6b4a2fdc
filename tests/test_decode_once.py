"""A training job decodes each image once, wherever its images fit (data.images.image_dataset): in
memory, in a job-local file on disk (decode_to_disk), or, beyond both budgets, on demand in every
epoch as before. Each path is forced by its budget on a small JPEG dataset; the decodes are counted,
and the batches and the trained weights are compared bit for bit with the streamed path's."""
import os
from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from basesel import BaseselError
from basesel.compute import training
from basesel.compute.pretrain import pretrain
from basesel.compute.schedule import Schedule
from basesel.data import images
from basesel.data.images import DataBudget, image_dataset

ARCH = {"arch": "resnet18", "width": 0.125, "input_size": 32}
SCHEDULE = Schedule(epochs=3, lr=0.05, step_size=2, batch_size=8)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """30 training and 9 validation JPEGs of 3 classes, each of its own size (every one is resized)."""
    folder = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    out = []
    for i in range(39):
        label = i % 3
        pixels = rng.integers(0, 80, (20 + i % 7, 30 + i % 5, 3), dtype=np.uint8) + 60 * label
        path = folder / f"{i}.jpg"
        Image.fromarray(pixels.astype(np.uint8)).save(path, quality=90)
        out.append({"path": str(path), "label": label, "class": f"c{label}", "split": "train" if i < 30 else "val"})
    return pd.DataFrame(out)


@pytest.fixture
def decodes(monkeypatch):
    """Every image decode of the job, by path."""
    counts = Counter()
    real = images.load_image

    def counted(path, preprocess):
        counts[path] += 1
        return real(path, preprocess)

    monkeypatch.setattr(images, "load_image", counted)
    return counts


# The three paths, forced by the budget: memory holds them; only the disk does; neither does.
BUDGETS = {"memory": lambda d: DataBudget(memory_mb=100),
           "disk": lambda d: DataBudget(memory_mb=0, scratch_gb=1, scratch_dir=str(d)),
           "streamed": lambda d: DataBudget(memory_mb=0, scratch_gb=0)}


def train(rows, tmp_path, budget, name, **kw):
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    pretrain(rows, ARCH, SCHEDULE, seed=3, source="s", out_model=out / "model.pt", log_path=out / "epochs.tsv",
             resume_path=out / "resume.pt", device=torch.device("cpu"), budget=budget, label=name, **kw)
    return torch.load(out / "model.pt", weights_only=True)["state_dict"]


def test_each_path_decodes_once_and_trains_the_same_weights(rows, tmp_path, decodes):
    weights = {}
    for path, budget in BUDGETS.items():
        scratch = tmp_path / f"scratch-{path}"
        scratch.mkdir()
        decodes.clear()
        weights[path] = train(rows, tmp_path, budget(scratch), path)
        assert set(decodes) == set(rows.path)
        # streamed: every epoch decodes the training images and its validation the val images again
        assert set(decodes.values()) == ({1} if path != "streamed" else {SCHEDULE.epochs})
        assert os.listdir(scratch) == []  # the disk path's file was unlinked once mapped
    for path in ("memory", "disk"):
        assert weights[path].keys() == weights["streamed"].keys()
        for k, v in weights["streamed"].items():
            assert torch.equal(weights[path][k], v), (path, k)


def test_a_jobs_image_sets_share_its_budget(rows, tmp_path, monkeypatch):
    """Training and validation images that each fit the memory budget but not together: the
    training set takes the memory and the validation set what remains (the disk, or, without it,
    decoding every epoch), since the job's memory request counts the budget once."""
    to_disk = []
    real = images.decode_to_disk

    def spied(paths, *a, **kw):
        to_disk.append(len(paths))
        return real(paths, *a, **kw)

    monkeypatch.setattr(images, "decode_to_disk", spied)
    train, val = rows[rows.split == "train"], rows[rows.split == "val"]
    parts = [(train.path.tolist(), train.label.to_numpy(), "train"), (val.path.tolist(), val.label.to_numpy(), "val")]
    image_mb = 3 * 32 * 32 / 2**20
    tight = DataBudget(memory_mb=30.5 * image_mb, scratch_gb=1, scratch_dir=str(tmp_path))
    alone = image_dataset(*parts[1][:2], 32, tight)  # the 9 validation images alone fit in memory
    assert to_disk == [] and isinstance(alone, torch.utils.data.TensorDataset)
    tr, va = images.image_datasets(parts, 32, tight)
    assert to_disk == [9]  # after the 30 training images, only the disk holds them
    assert torch.equal(va.tensors[0], alone.tensors[0]) and torch.equal(tr.tensors[0], images.preload(
        *parts[0][:2], 32).tensors[0])
    images.image_datasets(parts, 32, replace(tight, memory_mb=39 * image_mb))  # both fit together
    assert to_disk == [9]
    _, streamed = images.image_datasets(parts, 32, replace(tight, scratch_gb=0))
    assert isinstance(streamed, images.ImageList)


def test_the_paths_give_the_same_batches(rows, tmp_path):
    """The loader's batches (training._batches, shuffled from one seed) of each path, and on_device's
    (forced on the CPU by its budget), equal to the streamed path's DataLoader's."""
    paths, labels = rows.path.tolist(), rows.label.to_numpy()
    datasets = {path: image_dataset(paths, labels, 32, budget(tmp_path)) for path, budget in BUDGETS.items()}
    assert isinstance(datasets["streamed"], images.ImageList)
    assert isinstance(datasets["disk"], torch.utils.data.TensorDataset)
    moved = training.on_device(datasets["disk"], torch.device("cpu"), max_mb=1)
    assert moved is not datasets["disk"]  # fits the fake budget: a new dataset of the moved tensors
    assert training.on_device(datasets["disk"], torch.device("cpu"), max_mb=1e-3) is datasets["disk"]  # over it
    datasets["on_device"] = moved

    def batches(dataset):
        gen = torch.Generator().manual_seed(5)
        torch.manual_seed(0)
        return [b for _ in range(2) for b in training._batches(dataset, 8, True, gen, 0, False)]

    reference = batches(datasets["streamed"])
    assert len(reference) == 2 * 5  # 39 images in batches of 8, twice
    for path in ("memory", "disk", "on_device"):
        got = batches(datasets[path])
        assert len(got) == len(reference)
        for (x, y), (rx, ry) in zip(got, reference):
            assert torch.equal(x, rx) and torch.equal(y, ry), path


class Killed(Exception):
    pass


def test_a_killed_disk_job_resumes_to_the_same_weights(rows, tmp_path, decodes, monkeypatch):
    budget = BUDGETS["disk"](tmp_path)
    straight = train(rows, tmp_path, budget, "straight", resume_every=0)
    real_save = training.TrainState.save

    def dies_after_first_save(self, *args):
        real_save(self, *args)
        raise Killed

    monkeypatch.setattr(training.TrainState, "save", dies_after_first_save)
    with pytest.raises(Killed):
        train(rows, tmp_path, budget, "killed", resume_every=0)
    monkeypatch.setattr(training.TrainState, "save", real_save)
    assert not (tmp_path / "killed" / "model.pt").exists()
    decodes.clear()
    resumed = train(rows, tmp_path, budget, "killed", resume_every=0)  # a new job: decodes once more
    assert set(decodes.values()) == {1}
    for k, v in straight.items():
        assert torch.equal(resumed[k], v), k
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("basesel-decoded")] == []


def test_a_disk_without_room_is_named_before_training(rows, tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(images.os, "posix_fallocate", full)
    with pytest.raises(BaseselError, match="scratch_dir"):
        image_dataset(rows.path.tolist(), rows.label.to_numpy(), 32, BUDGETS["disk"](tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_small_disk_streams_with_a_message(rows, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(images.shutil, "disk_usage", lambda p: type("Usage", (), {"free": 1000})())
    ds = image_dataset(rows.path.tolist(), rows.label.to_numpy(), 32, BUDGETS["disk"](tmp_path))
    assert isinstance(ds, images.ImageList) and "decoding them every time" in capsys.readouterr().err


def test_budget_from_config_and_device_share():
    budget = DataBudget.from_config({"preload_max_mb": 10, "scratch_max_gb": 2, "scratch_dir": "",
                                     "device_preload_fraction": 0.5})
    assert budget == DataBudget(memory_mb=10, scratch_gb=2, scratch_dir=None, device_fraction=0.5)
    assert budget.device_mb("cpu") == 0  # the CPU's images are where it computes
    assert DataBudget.of(5) == DataBudget(memory_mb=5)
