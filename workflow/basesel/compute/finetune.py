"""Fine-tuning per the paper: replace the last FC layer, freeze the rest, Table 3 schedule.

`head` mode trains the new FC layer on the penultimate features of the features file
(passes.write_features_file). With a frozen backbone in eval mode (no dropout, fixed batch-norm
statistics) and no augmentation, every epoch would feed the head exactly these features, so this is
the same optimisation as frozen-backbone training at a fraction of the cost. `full` mode trains the
whole network on images, beyond the paper's protocol. The truncate fine-tuning of Appendix A.2
(layers.py) trains its new FC layers with the same `fit_head`.
"""
from __future__ import annotations

import time

import h5py
import numpy as np
import torch
from torch import nn

from .. import BaseselError
from ..data.images import DataBudget, image_datasets, normalise
from .schedule import Schedule
from .training import fit


def load_features(path, group: str = "/"):
    """((x, y) of the train split, (x, y) of the test split) from a features file; `group` names
    the HDF5 group that holds `features` (a layer of a layer file)."""
    with h5py.File(path, "r", locking=False) as f:
        for key in (f"{group.rstrip('/')}/features", "feature_labels", "feature_split"):
            if key.lstrip("/") not in f:
                raise BaseselError(f"{path}: no dataset {key.lstrip('/')!r}; head fine-tuning needs cached features")
        x, y, s = f[group]["features"][:], f["feature_labels"][:], f["feature_split"][:]
    if not np.isfinite(x).all():
        raise BaseselError(f"{path}: {group.strip('/') + ' ' if group != '/' else ''}features contain NaN or inf")
    return (x[s == 0], y[s == 0]), (x[s == 1], y[s == 1])


def fit_head(train, test, schedule: Schedule, *, seed: int, resume_path, log_path, device, label: str, params,
             resume_every: float = 0.0):
    """A new FC layer (N(0, 0.01) weights, zero bias, drawn with `seed`) trained on cached features
    (x, y) of the train split and evaluated on the test split; returns the per-epoch log.
    `resume_path` and `resume_every` are training.fit's."""
    (xtr, ytr), (xte, yte) = train, test
    num_classes = int(max(ytr.max(), yte.max())) + 1
    head = nn.Linear(xtr.shape[1], num_classes)
    torch.manual_seed(seed)
    nn.init.normal_(head.weight, 0, 0.01)
    nn.init.zeros_(head.bias)
    tr = torch.utils.data.TensorDataset(torch.from_numpy(xtr), torch.from_numpy(ytr).long())
    te = torch.utils.data.TensorDataset(torch.from_numpy(xte), torch.from_numpy(yte).long())
    return fit(head, tr, te, schedule, seed=seed, resume_path=resume_path, log_path=log_path, device=device,
               label=label, params=params, resume_every=resume_every)


def result(log, mode: str, n_train: int, n_test: int) -> dict:
    """The record of one fine-tuning: last-epoch test accuracy (the ground truth) and its context."""
    return {
        "accuracy": float(log.val_acc.iloc[-1]),
        "best_epoch_accuracy": float(log.val_acc.max()),
        "train_accuracy": float(log.train_acc.iloc[-1]),
        "epochs": int(log.epoch.iloc[-1]),
        "mode": mode, "n_train": n_train, "n_test": n_test,
    }


def finetune_head(h5_path, schedule: Schedule, *, seed: int, resume_path, log_path, device, label: str,
                  resume_every: float = 0.0) -> dict:
    """Head fine-tuning on a features file; returns the result record, with its cost in seconds: the
    training and the file's forward pass over the target's images. `resume_every`: training.fit's."""
    train, test = load_features(h5_path)
    start = time.perf_counter()
    log = fit_head(train, test, schedule, seed=seed, resume_path=resume_path, log_path=log_path, device=device,
                   label=label, params={"mode": "head", "input": str(h5_path)}, resume_every=resume_every)
    seconds = {"train": time.perf_counter() - start}
    with h5py.File(h5_path, "r", locking=False) as f:
        if "seconds" in f.attrs:
            seconds["pass"] = float(f.attrs["seconds"])
    return {**result(log, "head", len(train[1]), len(test[1])), "seconds": seconds}


def finetune_full(probed, target_index, schedule: Schedule, *, seed: int, resume_path, log_path, device, label: str,
                  budget, workers: int, resume_every: float = 0.0, decoded=None) -> dict:
    """Replace the head of a base model (models.tap.Probed) and train the whole network on the
    target's images, fed as the model's own preprocessing says. `resume_every`: training.fit's;
    `decoded`: the target's decoded images file and `budget` where images decoded once are kept
    (a data.images.DataBudget, or MiB of memory: image_dataset's)."""
    train = target_index[target_index.split == "train"]
    test = target_index[target_index.split == "test"]
    torch.manual_seed(seed)
    probed.new_head(int(train.label.max()) + 1)
    p = probed.preprocess
    start = time.perf_counter()
    tr, te = image_datasets([(train.path.tolist(), train.label.to_numpy(), f"{label}: train"),
                             (test.path.tolist(), test.label.to_numpy(), f"{label}: test")], p, budget, workers, decoded)
    log = fit(probed.model, tr, te, schedule, seed=seed, resume_path=resume_path, log_path=log_path, device=device,
              prepare=lambda x: normalise(x, p.mean, p.std), label=label, workers=workers, params={"mode": "full"},
              resume_every=resume_every, device_max_mb=DataBudget.of(budget).device_mb(device))
    # the whole training, its passes over the images included (time before a resume is not counted)
    return {**result(log, "full", len(train), len(test)), "seconds": {"train": time.perf_counter() - start}}
