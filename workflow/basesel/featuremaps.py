"""Featuremap dumps: one HDF5 file per (base model, target), written in one forward pass.

One pass over the target's train and test images gives, through forward hooks, the probed layer's
featuremaps (kept for the probe rows only), the penultimate features (the head's input) and the
source head's softmax. Each batch is written as it comes, so memory holds one batch; the file is
written under a temporary name and renamed when complete.

Datasets: featuremaps (P,C,H,W) float32 [as the model produced them, no lossy cast], labels (P,),
probe_index (P,) [row in the target's train split], features (M,D) float32, feature_labels (M,),
feature_split (M,) [0 train, 1 test], source_probs (M,Cs) float32.
"""
from __future__ import annotations

import os
import queue
import sys
import threading

# Shared cluster filesystems often lack POSIX locks; HDF5 must not need them (read before h5py loads).
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from . import __version__  # noqa: E402
from .data import image_dataset, normalise, probe_rows  # noqa: E402
from .io import atomic_path  # noqa: E402
from .models import ArchSpec, FeatureTap, probe_layer  # noqa: E402

COMPRESSION = {"compression": "lzf"}


def extract(model: torch.nn.Module, spec: ArchSpec, target_index: pd.DataFrame, out_path, *, probe_per_class: int,
            probe_seed: int, batch_size: int, device, attrs: dict | None = None, preload_max_mb: float = 2048,
            workers: int = 0, progress: bool = True, dataset=None) -> None:
    """Write the featuremap file for one model and one target (index rows with split train/test).

    `dataset` may hold the train rows then the test rows already decoded (the benchmark passes one
    to time extraction apart from image decoding).
    """
    train = target_index[target_index.split == "train"].reset_index(drop=True)
    test = target_index[target_index.split == "test"].reset_index(drop=True)
    probe = probe_rows(train, probe_per_class, probe_seed)
    rows = pd.concat([train, test], ignore_index=True)
    split = np.r_[np.zeros(len(train), np.uint8), np.ones(len(test), np.uint8)]
    is_probe = np.zeros(len(rows), bool)
    is_probe[probe] = True
    probe_slot = np.cumsum(is_probe) - 1  # where each probe row goes in the featuremaps dataset

    if dataset is None:
        dataset = image_dataset(rows.path.tolist(), rows.label.to_numpy(), spec.input_size, preload_max_mb, workers)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0 if isinstance(dataset, torch.utils.data.TensorDataset) else workers,
                                         pin_memory=device.type == "cuda")
    model.eval().to(device)
    layer_name, _ = probe_layer(model, spec.arch)
    with atomic_path(out_path, ".h5") as tmp, h5py.File(tmp, "w", locking=False) as f, FeatureTap(model, spec.arch) as tap, \
            _Writer(f) as writer, torch.no_grad():
        created = False
        done = 0
        for x, _ in loader:
            logits = model(normalise(x.to(device, non_blocking=True)))
            fm = tap.featuremap.float().cpu().numpy()
            pen = tap.penultimate.float().cpu().numpy()
            probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
            if not created:
                _create(f, len(probe), fm.shape[1:], len(rows), pen.shape[1], probs.shape[1])
                created = True
            sl = slice(done, done + len(x))
            writer.put("features", sl, pen)
            writer.put("source_probs", sl, probs)
            sel = is_probe[sl]
            if sel.any():
                slots = probe_slot[sl][sel]
                writer.put("featuremaps", slice(slots[0], slots[-1] + 1), fm[sel])
            done += len(x)
            if progress:
                print(f"\r[featuremaps] {done}/{len(rows)} images", end="", file=sys.stderr, flush=True)
        writer.join()
        if progress:
            print(file=sys.stderr)
        f["labels"] = train.label.to_numpy()[probe].astype(np.int64)
        f["probe_index"] = probe.astype(np.int64)
        f["feature_labels"] = rows.label.to_numpy().astype(np.int64)
        f["feature_split"] = split
        f.attrs.update({
            "arch": spec.arch, "width": spec.width, "input_size": spec.input_size, "layer": layer_name,
            "num_source_classes": spec.num_classes, "probe_per_class": probe_per_class, "probe_seed": probe_seed,
            "target_classes": list(dict.fromkeys(train["class"])), "basesel_version": __version__,
            **(attrs or {}),
        })


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


def _create(f: h5py.File, n_probe: int, fm_shape, m: int, d: int, cs: int) -> None:
    fm_chunk = (max(1, min(n_probe, 2**20 // (4 * int(np.prod(fm_shape))))),) + tuple(fm_shape)
    f.create_dataset("featuremaps", (n_probe, *fm_shape), np.float32, chunks=fm_chunk, **COMPRESSION)
    # Chunks of about 1 MiB: h5py's sweet spot between per-chunk overhead and partial reads.
    f.create_dataset("features", (m, d), np.float32, chunks=(max(1, min(m, 2**18 // d)), d), **COMPRESSION)
    f.create_dataset("source_probs", (m, cs), np.float32, chunks=(max(1, min(m, 2**18 // cs)), cs), **COMPRESSION)
