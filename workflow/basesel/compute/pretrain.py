"""Pretraining a base model of the paper's architectures on rows of the source pool: a subset's
(the paper's base models) or the whole pool's (Figure 1 and Appendix A.2), resumable after a kill."""
from __future__ import annotations

import sys

import pandas as pd
import torch

from ..data.images import DataBudget, image_datasets, normalise
from ..io import atomic_path
from ..models.paper import ArchSpec, build_model, checkpoint_dict
from .curves import EpochCheckpoints
from .schedule import Schedule
from .training import clear_resume, fit, memory_format


def pretrain(rows: pd.DataFrame, arch: dict, schedule: Schedule, *, seed: int, source: str, out_model, log_path,
             resume_path, device, workers: int = 0, budget=2048, label: str,
             keep_epochs_in=None, keep_resume: bool = False, resume_every: float = 0.0, decoded=None) -> pd.DataFrame:
    """Train a new model of `arch` ({arch, width, input_size}) on the train rows of `rows`, validated
    on its val rows; write it as a basesel checkpoint (its source subset `source`, the source
    classes, validation accuracy and training-set size: the task-agnostic baselines) to `out_model`
    and the per-epoch log to `log_path`; remove the resume file once both are written (unless
    `keep_resume`: the caller has more to write first). With `keep_epochs_in` (a folder), the model
    of every epoch is kept there too (curves.EpochCheckpoints). `resume_every`: training.fit's;
    `decoded`: the source pool's decoded images file and `budget` where images decoded once are kept
    (a data.images.DataBudget, or MiB of memory: image_dataset's)."""
    train, val = rows[rows.split == "train"], rows[rows.split == "val"]
    spec = ArchSpec(num_classes=int(train.label.max()) + 1, **arch)
    print(f"[{label}] {len(train)} train / {len(val)} val images, {spec.num_classes} classes, device {device}",
          file=sys.stderr)
    torch.manual_seed(seed)
    model = build_model(spec)
    train_set, val_set = image_datasets([(train.path.tolist(), train.label.to_numpy(), f"{label}: train"),
                                         (val.path.tolist(), val.label.to_numpy(), f"{label}: val")],
                                        spec.input_size, budget, workers, decoded)
    keep = None if keep_epochs_in is None else EpochCheckpoints(spec, keep_epochs_in, schedule.epochs, subset=source)
    log = fit(model, train_set, val_set, schedule, seed=seed, resume_path=resume_path, log_path=log_path,
              device=device, prepare=normalise, workers=workers, label=label,
              params={"spec": arch, "subset": source}, epoch_hook=keep, layout=memory_format(arch["arch"]),
              resume_every=resume_every, device_max_mb=DataBudget.of(budget).device_mb(device))
    ckpt = checkpoint_dict(model.cpu(), spec, subset=source, classes=list(dict.fromkeys(train["class"])),
                           val_acc=float(log.val_acc.iloc[-1]), train_images=len(train))
    with atomic_path(out_model, ".pt") as tmp:
        torch.save(ckpt, tmp)
    if not keep_resume:
        clear_resume(resume_path)
    return log
