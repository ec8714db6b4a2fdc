"""Training with a schedule (schedule.py: the paper's Table 3 by default), resumable after a killed job.

Cross-entropy, the schedule's optimizer (SGD with momentum, the paper's, or Adam), learning rate
`lr` multiplied by `gamma` every `step_size` epochs. After an epoch, once `resume_every` seconds
have passed since the last save (after every epoch with 0), the full state (model, optimiser, RNG
streams, log rows: TrainState) is saved atomically to a resume file that is *not* a Snakemake
output (Snakemake deletes incomplete outputs); a rerun with the same settings continues from the
last saved epoch, a rerun with other settings starts afresh.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import BaseselError
from ..io import atomic_path
from ..machinery.progress import EpochProgress
from .schedule import Schedule


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or asked for), CPU otherwise; a clear error when CUDA is asked for but absent."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise BaseselError(f"device {requested!r} requested but no CUDA device is visible on this node "
                           f"(set compute.device: auto to fall back to the CPU, or ask the cluster for a GPU node)")
    return torch.device(requested)


def job_compute(compute: dict, threads: int) -> tuple[torch.device, int, float]:
    """What a torch job computes with: (device, DataLoader workers, preload budget in MiB), from
    config["compute"] and the job's threads. Read in the script, never passed as a rule parameter:
    compute settings change no result, so they must rerun no job."""
    device = pick_device(compute["device"])
    return device, loader_workers(device, threads), compute["preload_max_mb"]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fingerprint(obj) -> str:
    """A short hash of a JSON-able object: what a resume file must match to be reused."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def loader_workers(device: torch.device, threads: int) -> int:
    """DataLoader worker processes: one per CPU the job was given when a GPU computes (the CPUs
    decode while it trains); none on the CPU, where workers would compete with the compute threads."""
    return max(1, int(threads)) if device.type == "cuda" else 0


def _batches(dataset, batch_size: int, shuffle: bool, generator: torch.Generator | None, workers: int, pin: bool):
    """Batches of `dataset` in the order a DataLoader(batch_size, shuffle, generator) gives them.

    A decoded TensorDataset is sliced a whole batch at a time by a tensor of indices: the same
    batches, values and random draws as the DataLoader's per-sample fetch and collate (or its
    batch sampler's list of indices), without their per-batch cost, which exceeds the training
    step of a small head.
    """
    if not isinstance(dataset, torch.utils.data.TensorDataset) or (shuffle and generator is None):
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                           num_workers=workers, pin_memory=pin, drop_last=False)
    return _tensor_batches(dataset.tensors, batch_size, generator if shuffle else None, pin)


def _tensor_batches(tensors, batch_size: int, generator: torch.Generator | None, pin: bool):
    n = len(tensors[0])
    if generator is None:
        # A DataLoader without a generator draws its iterator's base seed from torch's global one,
        # which dropout draws from too: drawn here as well, so that training is the one before.
        torch.empty((), dtype=torch.int64).random_()
        order = torch.arange(n)
    else:  # the DataLoader's draws from `generator`, in its order:
        torch.empty((), dtype=torch.int64).random_(generator=generator)  # its iterator's base seed,
        order = torch.randperm(n, generator=generator)  # RandomSampler's permutation,
        torch.randperm(n, generator=generator)  # and the one it draws for a remainder of n % n = 0 samples
    order = order.to(tensors[0].device)  # tensors on a GPU (on_device) are gathered there
    pin = pin and tensors[0].device.type == "cpu"
    for start in range(0, n, batch_size):
        batch = tuple(t[order[start:start + batch_size]] for t in tensors)
        yield tuple(t.pin_memory() for t in batch) if pin else batch


def on_device(dataset, device, max_mb: float):
    """`dataset` with its tensors moved to `device` once, when it is decoded (a TensorDataset) and
    they fit in `max_mb` MiB; as it is otherwise. Each batch is then gathered on the device from the
    same permutation (_tensor_batches): the same batches, with no copy from the host per step."""
    if not isinstance(dataset, torch.utils.data.TensorDataset) or max_mb <= 0 or _tensors_mb(dataset) > max_mb:
        return dataset
    return torch.utils.data.TensorDataset(*(t.to(device) for t in dataset.tensors))


def _tensors_mb(dataset: torch.utils.data.TensorDataset) -> float:
    return sum(t.numel() * t.element_size() for t in dataset.tensors) / 2**20


def evaluate(model: nn.Module, dataset, batch_size: int, device, prepare) -> tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy) of `model` on `dataset`."""
    model.eval()
    # Sums stay on the device and are read once: a per-batch float() would wait for the GPU each batch.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    with torch.no_grad():
        for x, y in _batches(dataset, batch_size, False, None, 0, False):
            x, y = prepare(x.to(device)), y.to(device)
            out = model(x)
            loss_sum += nn.functional.cross_entropy(out, y, reduction="sum").double()
            correct += (out.argmax(1) == y).sum()
            n += len(y)
    return (float(loss_sum) / max(n, 1), int(correct) / max(n, 1))


def mixed_precision(device: torch.device, precision: str = "auto"):
    """(autocast dtype or None, GradScaler or None) for training on `device`.

    `auto`: full precision on the CPU; on CUDA, bfloat16 where the GPU has it (float32's exponent
    range, so small gradients do not underflow and no scaler is needed), float16 with a gradient
    scaler otherwise (without one, gradients below float16's 6e-8 become zero). `float32`,
    `bfloat16` or `float16` force one (the last with its scaler, on any device).
    """
    if precision == "auto":
        if device.type != "cuda":
            return None, None
        precision = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if precision == "float32":
        return None, None
    if precision == "bfloat16":
        return torch.bfloat16, None
    if precision == "float16":
        return torch.float16, torch.amp.GradScaler(device.type)
    raise ValueError(f"precision {precision!r}: expected auto, float32, bfloat16 or float16")


def make_optimizer(parameters, schedule: Schedule, device=None) -> torch.optim.Optimizer:
    """The schedule's optimizer (Adam, or SGD with momentum) over `parameters`, fused on the CPU and
    on CUDA: one kernel updates every parameter, the same update as torch's per-parameter loop up to
    rounding, where that loop (torch's CPU default) cost as much as the forward and backward passes
    of the embedded default's small networks (benchmarks/training_steps.py)."""
    fused = {"fused": True} if device is None or torch.device(device).type in ("cpu", "cuda") else {}
    if schedule.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=schedule.lr, weight_decay=schedule.weight_decay, **fused)
    return torch.optim.SGD(parameters, lr=schedule.lr, momentum=schedule.momentum, weight_decay=schedule.weight_decay,
                           **fused)


def memory_format(arch: str | None) -> torch.memory_format:
    """The layout training runs a model of the registry in: channels-last, whose convolutions are
    faster on the CPU for all three (1.1-1.3x a step here, benchmarks/training_steps.py); contiguous
    for anything else (a head on cached features)."""
    return torch.channels_last if arch in CHANNELS_LAST else torch.contiguous_format


CHANNELS_LAST = ("alexnet", "vgg16", "resnet18")


@contextmanager
def _flushed_denormals(device):
    """Flush subnormal floats to zero on the CPU while training, as GPUs do by default.

    Once the learning rate steps down, gradients and Adam moments go subnormal and x86 CPUs slow
    down on them (an AlexNet pretraining took 15.9 s instead of 13.7 s); flushing keeps epochs
    flat and changes values only below 1.2e-38. Passes and scores run with the default restored.
    """
    flush = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flush:
            torch.set_flush_denormal(False)


def fit(model: nn.Module, train_set, val_set, schedule: Schedule, *, seed: int, resume_path, log_path,
        device=None, prepare=lambda x: x, params=None, workers: int = 0, label: str = "train",
        trainable=None, epoch_hook=None, precision: str = "auto",
        layout: torch.memory_format = torch.contiguous_format, resume_every: float = 0.0,
        device_max_mb: float = 0.0) -> pd.DataFrame:
    """Train `model`; write the per-epoch TSV to `log_path`; return the log.

    `prepare` maps a batch of raw inputs to model inputs (e.g. uint8 images to normalised floats);
    `trainable` restricts the optimiser to some parameters (a replaced head); `params` is what
    must match for a resume file to be reused; `precision` is mixed_precision's; `layout` the
    memory format of an image model and its input batches (memory_format).

    `resume_every`: the resume file at `resume_path` is written after an epoch once this many
    seconds have passed since the last write (or the start), after every epoch with 0; a killed
    run loses at most that much training and the epoch in progress, and resumes to the same weights
    either way. Written after every epoch, it cost 6% of the embedded default's AlexNet pretraining,
    whose epochs last about a second, and more of a head's fine-tuning. `resume_path` None: a fit
    too short to resume, which neither reads nor writes one.

    `epoch_hook(model, epoch) -> dict` is called after each epoch's validation (model in eval mode,
    `epoch` counted from 1); its numeric values become extra columns of that epoch's log row, after
    `val_acc` (`seconds` stays last and includes the hook). They are stored in the resume file like
    the other columns, and the resume file (with torch's RNG state) is written after the hook, so a
    deterministic hook gives a resumed run the same log as an uninterrupted one.

    `device_max_mb`: decoded training and validation images up to this many MiB are moved to the
    device once (on_device; DataBudget.device_mb: 0 on the CPU). On CUDA, cuDNN picks its fastest
    algorithms for the fixed shapes once (cudnn.benchmark).
    """
    device = torch.device(device) if device is not None else pick_device()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    moved = on_device(train_set, device, device_max_mb)
    left = device_max_mb - (_tensors_mb(moved) if moved is not train_set else 0.0)  # what validation may take
    train_set, val_set = moved, on_device(val_set, device, left)
    model.to(device=device, memory_format=layout)
    opt = make_optimizer(list(trainable if trainable is not None else model.parameters()), schedule, device)
    if layout != torch.contiguous_format:
        user_prepare = prepare

        def prepare(x):
            return user_prepare(x).contiguous(memory_format=layout)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=schedule.step_size, gamma=schedule.gamma)
    amp_dtype, scaler = mixed_precision(device, precision)
    shapes = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    key = fingerprint({"schedule": asdict(schedule), "seed": seed, "params": params, "shapes": shapes})
    gen = torch.Generator().manual_seed(seed)
    seed_everything(seed)
    state = TrainState(model, opt, sched, gen, scaler)
    rows = [] if resume_path is None else state.resume(Path(resume_path), key, device, label)
    progress = EpochProgress(label, schedule.epochs)
    last_save = time.monotonic()
    with _flushed_denormals(device):
        for epoch in range(len(rows), schedule.epochs):
            t0 = time.time()
            loss_sum, correct, n = _train_epoch(model, train_set, schedule, gen, opt, scaler, amp_dtype, device, prepare,
                                                workers)
            if not torch.isfinite(loss_sum):  # before anything of this epoch is saved
                raise FloatingPointError(f"[{label}] the training loss became {float(loss_sum)} in epoch {epoch + 1}; "
                                         f"lower the learning rate")
            lr = opt.param_groups[0]["lr"]
            sched.step()
            val_loss, val_acc = evaluate(model, val_set, max(schedule.batch_size, 256), device, prepare)
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": float(loss_sum) / max(n, 1), "train_acc": int(correct) / max(n, 1),
                   "val_loss": val_loss, "val_acc": val_acc}
            row.update(_hook_columns(epoch_hook, model, epoch + 1, row))
            row["seconds"] = time.time() - t0
            rows.append(row)
            progress.epoch(row)
            due = time.monotonic() - last_save >= resume_every
            if resume_path is not None and epoch + 1 < schedule.epochs and due:
                state.save(Path(resume_path), key, rows)
                last_save = time.monotonic()
    return _write_log(rows, log_path)


def _train_epoch(model, train_set, schedule, gen, opt, scaler, amp_dtype, device, prepare, workers):
    """One epoch of training: (summed loss, correct predictions, images), the sums on the device."""
    model.train()
    pin = device.type == "cuda"
    # Sums stay on the device and are read once an epoch (a per-batch read stalls the GPU);
    # float64, so that they equal the sum of the batch losses read one at a time.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    for x, y in _batches(train_set, schedule.batch_size, True, gen, workers, pin):
        x, y = prepare(x.to(device, non_blocking=pin)), y.to(device, non_blocking=pin)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(x)
            loss = nn.functional.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)  # skips the step when the scaled gradients overflowed
            scaler.update()
        loss_sum += loss.detach().double() * len(y)
        correct += (out.argmax(1) == y).sum()
        n += len(y)
    return loss_sum, correct, n


def _hook_columns(epoch_hook, model, epoch: int, row: dict) -> dict:
    """The epoch hook's extra log columns, as floats; a name the log already has is an error."""
    if epoch_hook is None:
        return {}
    extra = epoch_hook(model, epoch) or {}
    clash = [k for k in extra if k in row or k == "seconds"]
    if clash:
        raise ValueError(f"epoch_hook returned column(s) {', '.join(clash)} that the log already has")
    return {k: float(v) for k, v in extra.items()}


def _write_log(rows: list[dict], log_path) -> pd.DataFrame:
    columns = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc"]
    columns += [c for c in dict.fromkeys(k for r in rows for k in r) if c not in columns and c != "seconds"]
    log = pd.DataFrame(rows, columns=columns + ["seconds"])
    with atomic_path(log_path, ".tsv") as tmp:
        log.to_csv(tmp, sep="\t", index=False)
    return log


class TrainState:
    """What a resume file holds and restores: model, optimizer, scheduler, the loader's and torch's
    random streams, the gradient scaler, and the log rows so far."""

    def __init__(self, model, opt, sched, gen, scaler=None):
        self.model, self.opt, self.sched, self.gen, self.scaler = model, opt, sched, gen, scaler

    def resume(self, path: Path, key: str, device, label: str) -> list[dict]:
        """The log rows of the epochs a resume file at `path` holds, with the state restored; none
        (a fresh start) without a file or with one written under other settings (`key`)."""
        if not path.exists():
            return []
        state = torch.load(path, map_location=device, weights_only=True)
        if state.get("key") != key:
            print(f"[{label}] ignoring {path}: written with other settings", file=sys.stderr, flush=True)
            return []
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.gen.set_state(state["loader_rng"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        rows = [dict(zip(state["log_columns"], r)) for r in state["log_rows"].tolist()]
        for r in rows:
            r["epoch"] = int(r["epoch"])
        if len(rows) != int(state["epoch"]):
            raise ValueError(f"{path}: {len(rows)} log rows for {int(state['epoch'])} epochs")
        print(f"[{label}] resuming after epoch {len(rows)} from {path}", file=sys.stderr, flush=True)
        return rows

    def save(self, path: Path, key: str, rows: list[dict]) -> None:
        """Write the state after the last of `rows`' epochs, atomically."""
        cols = list(rows[0])
        state = {
            "key": key, "epoch": len(rows),
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "loader_rng": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
            **({"scaler": self.scaler.state_dict()} if self.scaler is not None else {}),
            "log_columns": cols,
            "log_rows": torch.tensor([[float(r[c]) for c in cols] for r in rows], dtype=torch.float64),
        }
        with atomic_path(path, ".pt") as tmp:
            torch.save(state, tmp)


def clear_resume(path) -> None:
    """Remove a resume file once its job's outputs are written."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
