"""Fine-tuning per the paper: replace the last FC layer, freeze the rest, Table 3 schedule.

`head` mode trains the new FC layer on the penultimate features cached in the featuremap file.
With a frozen backbone in eval mode (no dropout, fixed batch-norm statistics) and no augmentation,
every epoch would feed the head exactly these features, so this is the same optimisation as
frozen-backbone training at a fraction of the cost. `full` mode trains the whole network on images.
"""
from __future__ import annotations

import os

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from .data import image_dataset, normalise  # noqa: E402
from .io import BaseselError  # noqa: E402
from .models import replace_head  # noqa: E402
from .training import Schedule, fit  # noqa: E402


def load_features(path):
    """Penultimate features and labels of the train and test splits from a featuremap file."""
    with h5py.File(path, "r", locking=False) as f:
        for key in ("features", "feature_labels", "feature_split"):
            if key not in f:
                raise BaseselError(f"{path}: no dataset {key!r}; head fine-tuning needs cached features")
        x, y, s = f["features"][:], f["feature_labels"][:], f["feature_split"][:]
    if not np.isfinite(x).all():
        raise BaseselError(f"{path}: penultimate features contain NaN or inf")
    return (x[s == 0], y[s == 0]), (x[s == 1], y[s == 1])


def fit_head(train, test, schedule: Schedule, *, seed: int, resume_path, log_path, device, label: str, params):
    """A new FC layer (N(0, 0.01) weights, zero bias, drawn with `seed`) trained on cached features
    (x, y) of the train split and evaluated on the test split; returns the per-epoch log."""
    (xtr, ytr), (xte, yte) = train, test
    num_classes = int(max(ytr.max(), yte.max())) + 1
    head = nn.Linear(xtr.shape[1], num_classes)
    torch.manual_seed(seed)
    nn.init.normal_(head.weight, 0, 0.01)
    nn.init.zeros_(head.bias)
    tr = torch.utils.data.TensorDataset(torch.from_numpy(xtr), torch.from_numpy(ytr).long())
    te = torch.utils.data.TensorDataset(torch.from_numpy(xte), torch.from_numpy(yte).long())
    return fit(head, tr, te, schedule, seed=seed, resume_path=resume_path, log_path=log_path, device=device,
               label=label, params=params)


def finetune_head(h5_path, schedule: Schedule, *, seed: int, resume_path, log_path, device, label: str) -> dict:
    train, test = load_features(h5_path)
    log = fit_head(train, test, schedule, seed=seed, resume_path=resume_path, log_path=log_path, device=device,
                   label=label, params={"mode": "head", "input": str(h5_path)})
    return _result(log, "head", len(train[1]), len(test[1]))


def finetune_full(model, arch: str, target_index, schedule: Schedule, *, input_size: int, seed: int, resume_path,
                  log_path, device, label: str, preload_max_mb: float, workers: int) -> dict:
    """Replace the head and train the whole network on the target's images."""
    train = target_index[target_index.split == "train"]
    test = target_index[target_index.split == "test"]
    torch.manual_seed(seed)
    replace_head(model, arch, int(train.label.max()) + 1)
    tr = image_dataset(train.path.tolist(), train.label.to_numpy(), input_size, preload_max_mb, workers)
    te = image_dataset(test.path.tolist(), test.label.to_numpy(), input_size, preload_max_mb, workers)
    log = fit(model, tr, te, schedule, seed=seed, resume_path=resume_path, log_path=log_path, device=device,
              prepare=normalise, label=label, workers=workers, params={"mode": "full"})
    return _result(log, "full", len(train), len(test))


def _result(log, mode: str, n_train: int, n_test: int) -> dict:
    return {
        "accuracy": float(log.val_acc.iloc[-1]),
        "best_epoch_accuracy": float(log.val_acc.max()),
        "train_accuracy": float(log.train_acc.iloc[-1]),
        "epochs": int(log.epoch.iloc[-1]),
        "mode": mode, "n_train": n_train, "n_test": n_test,
    }
