"""Forward passes of a base model over a target, written to HDF5: two files per (base model, target).

- The features file (`write_features_file`): one pass over the target's train and test images gives
  the penultimate features (the head's input) and the source head's softmax. It depends on the
  model and the target's images only: fine-tuning in head mode and the baseline scores read it,
  and a new probe set does not rewrite it. Datasets: features (M,D) float32, feature_labels (M,),
  feature_split (M,) [0 train, 1 test], source_probs (M,Cs) float32. Rows: the train split, then
  the test split (data.subsets.target_rows).
- The featuremap file (`write_featuremap_file`): one pass over the probe images
  (data.subsets.probe_table) gives the probed layer's featuremaps, float32 as the model produced
  them (no lossy cast: S5 counts exact zeros). Datasets: featuremaps (P,C,H,W), labels (P,),
  probe_index (P,) [the row's position in the train split, and so in the features file].

Every pass reads its model through the one tap (models.tap: `read_pass`, over `image_batches`),
and every file is written in one frame (`pass_file`): under a temporary name renamed when
complete, each batch written as it comes by a second thread (lzf chunks of about 1 MiB,
`chunk_shape`), so that memory holds a few batches and compression overlaps the next forward pass.
A file's `seconds` attribute is the time of its pass (decoding, forward and writing), what a score
reading the file costs on top of its own computation (science/costs.py).
"""
from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager

import h5py
import numpy as np
import pandas as pd
import torch

from .. import BaseselError, __version__
from ..data.images import image_dataset, loader, normalise
from ..data.preprocessing import Preprocess
from ..data.subsets import target_rows
from ..io import atomic_path
from ..machinery.progress import Progress
from ..models.tap import Probed

COMPRESSION = {"compression": "lzf"}
CHUNK_BYTES = 2**20  # about 1 MiB: h5py's sweet spot between per-chunk overhead and partial reads


def chunk_shape(rows: int, row_shape) -> tuple:
    """Chunks of a float32 dataset of `rows` rows of `row_shape`: as many whole rows as fit in
    CHUNK_BYTES, at least one."""
    row_shape = tuple(int(s) for s in row_shape)
    return (max(1, min(rows, CHUNK_BYTES // (4 * int(np.prod(row_shape))))), *row_shape)


def create_rows(f, name: str, rows: int, row_shape) -> None:
    """An empty float32 dataset of `rows` rows, chunked and compressed as every pass file is."""
    f.create_dataset(name, (rows, *row_shape), np.float32, chunks=chunk_shape(rows, row_shape), **COMPRESSION)


def file_attrs(model_attrs: dict, classes, **extra) -> dict:
    """The attributes every file of a forward pass carries: what model (its `attrs`: architecture,
    input size, source classes, and a zoo model's preprocessing) and which classes made it."""
    return {**model_attrs, "target_classes": list(classes), "basesel_version": __version__, **extra}


@contextmanager
def full_float32():
    """cuDNN convolutions in full float32 while a pass runs. PyTorch lets them use TF32 on GPUs
    that have it (a 10-bit mantissa, relative errors near 1e-3), which would move the scores away
    from the CPU's values and flip S5's exact zeros; the passes are a small part of the compute."""
    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = previous


def image_batches(dataset, preprocess, *, batch_size: int, device, workers: int = 0, label: str = "forward"):
    """Yield (slice of the dataset, its images as model input on `device`, their labels) over a
    dataset of (uint8 image, label) pairs (data.images.image_dataset), in order, without gradients,
    in full float32, with progress on stderr."""
    p = Preprocess.of(preprocess)
    done = 0
    with torch.no_grad(), full_float32(), Progress(label, len(dataset)) as progress:
        for x, y in loader(dataset, batch_size, device, workers):
            yield slice(done, done + len(x)), normalise(x.to(device, non_blocking=True), p.mean, p.std), y
            done += len(x)
            progress.update(len(x))


def read_pass(probed: Probed, rows: pd.DataFrame, *, batch_size: int, device, preload_max_mb: float = 2048,
              workers: int = 0, label: str = "forward", dataset=None, decoded=None):
    """Yield (slice of `rows`, models.tap.Captured) of `probed` over `rows` (columns path, label), in
    order, in eval mode on `device`. `dataset` may hold the rows' images already decoded (the
    benchmarks pass one to time the pass apart from decoding); `decoded`: the decoded images file
    of the dataset the rows are of (data.images.image_dataset's)."""
    if dataset is None:
        dataset = image_dataset(rows.path.tolist(), rows.label.to_numpy(), probed.preprocess, preload_max_mb, workers,
                                decoded)
    probed.model.eval().to(device)
    done = 0
    with probed.reading() as read:
        for sl, x, _ in image_batches(dataset, probed.preprocess, batch_size=batch_size, device=device,
                                      workers=workers, label=label):
            yield sl, read(x)
            done = sl.stop
    if done != len(rows):
        raise BaseselError(f"the loader gave {done} images but there are {len(rows)} rows")


@contextmanager
def pass_file(out_path):
    """(the open HDF5 file, its batch writer) of a pass: the file under a temporary name, renamed
    onto `out_path` only when the block and every queued write have succeeded."""
    with atomic_path(out_path, ".h5") as tmp, h5py.File(tmp, "w", locking=False) as f, _Writer(f) as writer:
        yield f, writer
        writer.join()


def write_features_file(probed: Probed, target_index: pd.DataFrame, out_path, *, batch_size: int, device,
                        attrs: dict | None = None, preload_max_mb: float = 2048, workers: int = 0,
                        dataset=None, decoded=None) -> None:
    """Write the features file of one model on one target (index rows with split train/test)."""
    rows, split = target_rows(target_index)
    start = time.perf_counter()
    with pass_file(out_path) as (f, writer):
        for sl, cap in read_pass(probed, rows, batch_size=batch_size, device=device, preload_max_mb=preload_max_mb,
                                 workers=workers, label="[features]", dataset=dataset, decoded=decoded):
            writer.put_rows("features", len(rows), sl, cap.penultimate.float().cpu().numpy())
            if cap.logits is not None:  # a model without a classifier head has no source softmax
                writer.put_rows("source_probs", len(rows), sl, torch.softmax(cap.logits.float(), dim=1).cpu().numpy())
        writer.join()
        f["feature_labels"] = rows.label.to_numpy().astype(np.int64)
        f["feature_split"] = split
        f.attrs.update(file_attrs(probed.attrs, dict.fromkeys(rows.loc[split == 0, "class"]),
                                  seconds=time.perf_counter() - start, **(attrs or {})))


def write_featuremap_file(probed: Probed, probe: pd.DataFrame, out_path, *, batch_size: int, device,
                          attrs: dict | None = None, preload_max_mb: float = 2048, workers: int = 0,
                          dataset=None, decoded=None) -> None:
    """Write the featuremap file of one model on one target's probe set (data.subsets.probe_table rows)."""
    start = time.perf_counter()
    with pass_file(out_path) as (f, writer):
        for sl, cap in read_pass(probed, probe, batch_size=batch_size, device=device, preload_max_mb=preload_max_mb,
                                 workers=workers, label="[featuremaps]", dataset=dataset, decoded=decoded):
            writer.put_rows("featuremaps", len(probe), sl, cap.featuremap.float().cpu().numpy())
        writer.join()
        f["labels"] = probe.label.to_numpy().astype(np.int64)
        f["probe_index"] = probe.train_position.to_numpy().astype(np.int64)
        f.attrs.update(file_attrs(probed.attrs, dict.fromkeys(probe["class"]), layer=probed.layer,
                                  seconds=time.perf_counter() - start, **(attrs or {})))


class _Writer:
    """Writes batches to the HDF5 file from a second thread, so compression overlaps the next forward pass.

    The queue is short (memory stays a few batches); an error in the thread is raised in the caller.
    """

    def __init__(self, f: h5py.File, depth: int = 4):
        self.f, self.queue, self.error = f, queue.Queue(maxsize=depth), None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    name, sl, value = item
                    self.f[name][sl] = value
                except BaseException as exc:  # reported by join()
                    self.error = exc

    def put(self, name, sl, value):
        if self.error is not None:
            raise self.error
        self.queue.put((name, sl, value))

    def put_rows(self, name, n, sl, value):
        """Queue `value` as rows `sl` of the file's dataset `name` of `n` rows, created (create_rows)
        at its first batch, when the shape of a row is known."""
        if name not in self.f:
            create_rows(self.f, name, n, value.shape[1:])
        self.put(name, sl, value)

    def join(self):
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.join()
        else:  # the caller failed: stop writing, keep the caller's exception
            self.error = self.error or RuntimeError("aborted")
            self.queue.put(None)
            self.thread.join()
