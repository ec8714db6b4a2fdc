"""Forward passes of a base model over a target, written to HDF5: two files per (base model, target).

- The features file (`extract_features`): one pass over the target's train and test images gives,
  through forward hooks, the penultimate features (the head's input) and the source head's softmax.
  It depends on the model and the target's images only: fine-tuning in head mode and the baseline
  scores read it, and a new probe set does not rewrite it.
  Datasets: features (M,D) float32, feature_labels (M,), feature_split (M,) [0 train, 1 test],
  source_probs (M,Cs) float32. Rows: the train split, then the test split (data.target_rows).
- The featuremap file (`extract_probe`): one pass over the probe images (data.probe_table) gives
  the probed layer's featuremaps, float32 as the model produced them (no lossy cast: S5 counts
  exact zeros). Datasets: featuremaps (P,C,H,W), labels (P,), probe_index (P,) [the row's
  position in the train split, and so in the features file].

Each batch is written as it comes by a second thread (lzf chunks of about 1 MiB), so memory holds a
few batches and compression overlaps the next forward pass; a file is written under a temporary
name and renamed when complete. Its `seconds` attribute is the time of the pass (decoding, forward
and writing), what a score reading the file costs on top of its own computation (costs.py).
"""
from __future__ import annotations

import queue
import threading
import time

import h5py
import numpy as np
import pandas as pd
import torch

from . import __version__
from .data import target_rows
from .images import image_dataset, loader, normalise
from .io import BaseselError, atomic_path
from .models import ArchSpec, FeatureTap, full_float32, probe_layer
from .progress import Progress

COMPRESSION = {"compression": "lzf"}
CHUNK_BYTES = 2**20  # about 1 MiB: h5py's sweet spot between per-chunk overhead and partial reads


def file_attrs(spec: ArchSpec, classes, **extra) -> dict:
    """The attributes every file of a forward pass carries: what model and which classes made it."""
    return {"arch": spec.arch, "width": spec.width, "input_size": spec.input_size,
            "num_source_classes": spec.num_classes, "target_classes": list(classes), "basesel_version": __version__,
            **extra}


def forward_pass(model: torch.nn.Module, spec: ArchSpec, rows: pd.DataFrame, *, batch_size: int, device,
                 preload_max_mb: float = 2048, workers: int = 0, label: str = "forward", dataset=None):
    """Yield (slice of `rows`, batch output of `model`) over `rows` (columns path, label), in order,
    in eval mode without gradients and in full float32, with the model on `device`. `dataset` may hold the rows'
    images already decoded (the benchmarks pass one to time the pass apart from decoding)."""
    if dataset is None:
        dataset = image_dataset(rows.path.tolist(), rows.label.to_numpy(), spec.input_size, preload_max_mb, workers)
    model.eval().to(device)
    done = 0
    with torch.no_grad(), full_float32(), Progress(label, len(rows)) as progress:
        for x, _ in loader(dataset, batch_size, device, workers):
            out = model(normalise(x.to(device, non_blocking=True)))
            yield slice(done, done + len(x)), out
            done += len(x)
            progress.update(len(x))
    if done != len(rows):
        raise BaseselError(f"the loader gave {done} images but there are {len(rows)} rows")


def extract_features(model: torch.nn.Module, spec: ArchSpec, target_index: pd.DataFrame, out_path, *, batch_size: int,
                     device, attrs: dict | None = None, preload_max_mb: float = 2048, workers: int = 0,
                     dataset=None) -> None:
    """Write the features file of one model on one target (index rows with split train/test)."""
    rows, split = target_rows(target_index)
    start = time.perf_counter()
    with atomic_path(out_path, ".h5") as tmp, h5py.File(tmp, "w", locking=False) as f, \
            FeatureTap(model, spec.arch) as tap, _Writer(f) as writer:
        for sl, logits in forward_pass(model, spec, rows, batch_size=batch_size, device=device,
                                       preload_max_mb=preload_max_mb, workers=workers, label="[features]",
                                       dataset=dataset):
            pen = tap.penultimate.float().cpu().numpy()
            probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
            if "features" not in f:
                _dataset(f, "features", (len(rows), pen.shape[1]))
                _dataset(f, "source_probs", (len(rows), probs.shape[1]))
            writer.put("features", sl, pen)
            writer.put("source_probs", sl, probs)
        writer.join()
        f["feature_labels"] = rows.label.to_numpy().astype(np.int64)
        f["feature_split"] = split
        f.attrs.update(file_attrs(spec, dict.fromkeys(rows.loc[split == 0, "class"]),
                                  seconds=time.perf_counter() - start, **(attrs or {})))


def extract_probe(model: torch.nn.Module, spec: ArchSpec, probe: pd.DataFrame, out_path, *, batch_size: int, device,
                  attrs: dict | None = None, preload_max_mb: float = 2048, workers: int = 0, dataset=None) -> None:
    """Write the featuremap file of one model on one target's probe set (data.probe_table rows)."""
    layer_name, _ = probe_layer(model, spec.arch)
    start = time.perf_counter()
    with atomic_path(out_path, ".h5") as tmp, h5py.File(tmp, "w", locking=False) as f, \
            FeatureTap(model, spec.arch) as tap, _Writer(f) as writer:
        for sl, _ in forward_pass(model, spec, probe, batch_size=batch_size, device=device,
                                  preload_max_mb=preload_max_mb, workers=workers, label="[featuremaps]",
                                  dataset=dataset):
            fm = tap.featuremap.float().cpu().numpy()
            if "featuremaps" not in f:
                shape = fm.shape[1:]
                chunk = (max(1, min(len(probe), CHUNK_BYTES // (4 * int(np.prod(shape))))), *shape)
                f.create_dataset("featuremaps", (len(probe), *shape), np.float32, chunks=chunk, **COMPRESSION)
            writer.put("featuremaps", sl, fm)
        writer.join()
        f["labels"] = probe.label.to_numpy().astype(np.int64)
        f["probe_index"] = probe.train_position.to_numpy().astype(np.int64)
        f.attrs.update(file_attrs(spec, dict.fromkeys(probe["class"]), layer=layer_name,
                                  seconds=time.perf_counter() - start, **(attrs or {})))


def _dataset(f: h5py.File, name: str, shape) -> None:
    m, d = shape
    f.create_dataset(name, shape, np.float32, chunks=(max(1, min(m, CHUNK_BYTES // 4 // d)), d), **COMPRESSION)


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
