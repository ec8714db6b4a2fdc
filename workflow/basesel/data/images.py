"""Decoding images into model inputs (preprocessing.Preprocess), once per job wherever it fits: into
memory, or read from a dataset's decoded images file (write_decoded), which holds every image of a
dataset decoded once for all the jobs that read some of them; for a training job whose images exceed
its memory, into a job-local file on disk (decode_to_disk) that every epoch reads; beyond both
budgets (DataBudget), decoded again on demand every time an image is read."""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace

import h5py
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .. import BaseselError
from ..io import atomic_path
from ..machinery.progress import Progress
from ..machinery.resources import fits_preload  # the same test sets the SLURM memory and runtime estimate
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocess

_RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST,
             "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}


def load_image(path: str, preprocess) -> torch.Tensor:
    """Decode one image to a (3, S, S) uint8 tensor (RGB): resized as `preprocess` says (a
    Preprocess, or a size S for the paper's square bilinear resize)."""
    p = Preprocess.of(preprocess)
    size, resample = p.input_size, _RESAMPLE[p.interpolation]
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if p.resize == "square":
                if im.size != (size, size):
                    im = im.resize((size, size), resample)
            else:  # timm's eval transform: shorter side to floor(size / crop_pct), centre crop
                im = _centre_crop(im, size, math.floor(size / p.crop_pct), resample)
            arr = np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise BaseselError(f"unreadable image {path}: {exc}") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def _centre_crop(im: Image.Image, size: int, scale: int, resample) -> Image.Image:
    """torchvision's Resize(scale) (shorter side) then CenterCrop(size), on a PIL image."""
    w, h = im.size
    if (w <= h and w != scale) or (h < w and h != scale):
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(scale * long / short)
        im = im.resize((scale, new_long) if w <= h else (new_long, scale), resample)
    w, h = im.size
    if w < size or h < size:  # as CenterCrop: pad with zeros to the crop
        canvas = Image.new("RGB", (max(w, size), max(h, size)))
        canvas.paste(im, ((max(w, size) - w) // 2, (max(h, size) - h) // 2))
        im, (w, h) = canvas, canvas.size
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return im.crop((left, top, left + size, top + size))


class ImageList(torch.utils.data.Dataset):
    """(image uint8, label) pairs decoded on demand: the streaming path for large datasets."""

    def __init__(self, paths, labels, preprocess):
        self.paths = list(paths)
        self.labels = torch.as_tensor(np.array(labels, copy=True), dtype=torch.long)
        self.preprocess = Preprocess.of(preprocess)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return load_image(self.paths[i], self.preprocess), self.labels[i]


def preload(paths, labels, preprocess, workers: int = 0) -> torch.utils.data.TensorDataset:
    """Decode a whole image list into memory once (small datasets: every epoch reuses it)."""
    ds = ImageList(paths, labels, preprocess)
    size = ds.preprocess.input_size
    pixels = torch.empty((len(ds), 3, size, size), dtype=torch.uint8)
    _decode_into(ds, pixels, workers)
    return torch.utils.data.TensorDataset(pixels, ds.labels)


def _decode_into(ds: ImageList, pixels: torch.Tensor, workers: int, progress=None) -> None:
    """Decode every image of `ds`, in order, into `pixels` ((N, 3, S, S) uint8), the loader's
    `workers` decoding batches of 256; `progress` (machinery.progress.Progress) told of each batch."""
    start = 0
    for x, _ in torch.utils.data.DataLoader(ds, batch_size=256, num_workers=workers):
        pixels[start:start + len(x)] = x
        start += len(x)
        if progress is not None:
            progress.update(len(x))


@dataclass(frozen=True)
class DataBudget:
    """Where a job keeps the images it decodes once (config `compute`; none of it changes a value).

    memory_mb      decoded images up to this many MiB are held in memory (preload_max_mb);
    scratch_gb     a training job's decoded images over memory_mb, up to this many GiB, go to a
                   job-local file in `scratch_dir` (default: $TMPDIR, else the system's temporary
                   folder), decoded once and read by every epoch; 0, or larger datasets: decoded again
                   each time they are read (a forward pass reads each image once anyway);
    device_fraction  on CUDA, a training job's decoded images are moved to the GPU once when they
                   fit in this share of its free memory, and each batch is gathered there.
    """
    memory_mb: float = 2048.0
    scratch_gb: float = 0.0
    scratch_dir: str | None = None
    device_fraction: float = 0.0

    @classmethod
    def of(cls, budget) -> "DataBudget":
        """A DataBudget as it is, or a number of MiB: memory only (what a forward pass needs)."""
        return budget if isinstance(budget, DataBudget) else cls(memory_mb=float(budget))

    @classmethod
    def from_config(cls, compute: dict) -> "DataBudget":
        return cls(memory_mb=float(compute["preload_max_mb"]), scratch_gb=float(compute["scratch_max_gb"]),
                   scratch_dir=compute["scratch_dir"] or None, device_fraction=float(compute["device_preload_fraction"]))

    def folder(self) -> str:
        return self.scratch_dir or tempfile.gettempdir()

    def device_mb(self, device) -> float:
        """MiB of decoded images a job may move to `device` (0 on the CPU, where they already are)."""
        device = torch.device(device)
        if device.type != "cuda" or self.device_fraction <= 0:
            return 0.0
        free, _total = torch.cuda.mem_get_info(device)
        return self.device_fraction * free / 2**20


def image_dataset(paths, labels, preprocess, budget, workers: int = 0, decoded=None, label: str = "decode"):
    """The (uint8 image, label) dataset of `paths`, decoded once where the budget (a DataBudget, or
    MiB of memory) allows: in memory when they fit its memory_mb (read from `decoded`, the decoded
    images file of the dataset the paths are rows of (write_decoded), when it holds their pixels:
    the same uint8 values, decoded once for every job); else into a job-local file on disk when
    they fit its scratch_gb and the folder has the room; else decoded on the fly every time."""
    return _placed_dataset(paths, labels, preprocess, DataBudget.of(budget), workers, decoded, label)[0]


def image_datasets(parts, preprocess, budget, workers: int = 0, decoded=None) -> list:
    """image_dataset of each (paths, labels, label) in `parts`, the image sets of one job (training,
    then validation) sharing its budget: a set held in memory or on disk leaves the next one what
    remains, so that a job never holds more than the memory its request counts once
    (machinery.resources.loader_mb) nor more than scratch_gb on disk."""
    budget = DataBudget.of(budget)
    sets = []
    for paths, labels, label in parts:
        ds, held, mb = _placed_dataset(paths, labels, preprocess, budget, workers, decoded, label)
        sets.append(ds)
        if held == "memory":
            budget = replace(budget, memory_mb=budget.memory_mb - mb)
        elif held == "disk":
            budget = replace(budget, scratch_gb=budget.scratch_gb - mb / 1024)
    return sets


def _placed_dataset(paths, labels, preprocess, budget: DataBudget, workers, decoded, label):
    """image_dataset's rule: (the dataset, where it holds its decoded images: "memory", "disk", or
    None when it decodes them as they are read, and their MiB)."""
    size = Preprocess.of(preprocess).input_size
    nbytes = len(paths) * 3 * size * size
    mb = nbytes / 2**20
    if fits_preload(len(paths), size, budget.memory_mb):
        pixels = None if decoded is None else decoded_pixels(decoded, paths, preprocess)
        if pixels is None:
            return preload(paths, labels, preprocess, workers), "memory", mb
        labels = torch.as_tensor(np.array(labels, copy=True), dtype=torch.long)
        return torch.utils.data.TensorDataset(pixels, labels), "memory", mb
    if len(paths) and fits_preload(len(paths), size, budget.scratch_gb * 1024):
        folder = budget.folder()
        free = shutil.disk_usage(folder).free
        if nbytes <= free:
            return decode_to_disk(paths, labels, preprocess, folder, workers, label), "disk", mb
        print(f"[{label}] {len(paths)} images need {nbytes / 2**30:.1f} GiB decoded, {folder} has "
              f"{free / 2**30:.1f} GiB free: decoding them every time they are read", file=sys.stderr, flush=True)
    return ImageList(paths, labels, preprocess), None, mb


def decode_to_disk(paths, labels, preprocess, folder, workers: int = 0, label: str = "decode"):
    """Decode `paths` once into a file in `folder`, mapped into memory, as a TensorDataset whose
    image tensor reads the file: the same uint8 values as preload's, for a job whose images exceed
    its memory. The file's blocks are allocated first (a full disk is an error here, not a crash
    while writing), and it is unlinked as soon as it is created and mapped through its descriptor:
    private to this process (0600, no name left to open or replace) and freed by the kernel when the
    process ends, however it ends."""
    ds = ImageList(paths, labels, preprocess)
    size = ds.preprocess.input_size
    shape = (len(ds), 3, size, size)
    fd, name = tempfile.mkstemp(prefix="basesel-decoded-", suffix=".u8", dir=folder)
    os.unlink(name)  # mapped through its descriptor: no name another account could swap in the meantime
    with os.fdopen(fd, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, math.prod(shape))
        except OSError as exc:
            raise BaseselError(f"cannot hold {len(ds)} decoded images ({math.prod(shape) / 2**30:.1f} GiB) in "
                               f"{folder}: {exc.strerror}; set compute.scratch_dir to a larger local disk, or "
                               f"compute.scratch_max_gb: 0 to decode every epoch") from None
        pixels = np.memmap(f, dtype=np.uint8, mode="r+", shape=shape)
    pixels = torch.from_numpy(pixels)  # writes go to the mapped file
    with Progress(f"[{label}] decoding to {folder}", len(ds)) as progress:
        _decode_into(ds, pixels, workers, progress)
    return torch.utils.data.TensorDataset(pixels, ds.labels)


def normalise(x: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """uint8 (B,3,H,W) to float, scaled to [0, 1] and normalised (ImageNet statistics by default)."""
    mean = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def loader(dataset, batch_size: int, device, workers: int = 0) -> torch.utils.data.DataLoader:
    """An in-order loader for a forward pass; decoded datasets need no worker processes."""
    if isinstance(dataset, torch.utils.data.TensorDataset):
        workers = 0  # already decoded in memory: worker processes would only copy it
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                                       pin_memory=device.type == "cuda")


def _decode_key(preprocess) -> str:
    """What decides a decoded image's pixels: size, resize and interpolation (not the normalisation,
    which is applied to each batch)."""
    p = Preprocess.of(preprocess)
    return json.dumps({"input_size": p.input_size, "resize": p.resize, "crop_pct": p.crop_pct,
                       "interpolation": p.interpolation}, sort_keys=True)


def write_decoded(paths, preprocess, out_path, budget_mb: float, workers: int = 0) -> bool:
    """Write the decoded images file of a dataset: every image of `paths` (its index's rows) decoded
    as `preprocess` says (uint8, (N, 3, S, S), dataset `pixels`), with the paths in their order (`path`).

    Every pretraining on a subset of the source pool, every features pass and probe set of a target
    decoded its images again, 0.25-0.4 ms each here: a third of a features job. A dataset larger than
    `budget_mb` decoded (machinery.resources.fits_preload) is written without pixels, and its jobs
    decode their images as before. Returns whether the pixels were written."""
    p = Preprocess.of(preprocess)
    paths = list(paths)
    holds = fits_preload(len(paths), p.input_size, budget_mb)
    with atomic_path(out_path, ".h5") as tmp, h5py.File(tmp, "w", locking=False) as f:
        f.attrs["decode"] = _decode_key(p)
        if holds:
            f["path"] = np.array(paths, dtype=h5py.string_dtype())
            pixels = preload(paths, np.zeros(len(paths), dtype=np.int64), p, workers).tensors[0]  # labels unused
            f.create_dataset("pixels", data=pixels.numpy())
    return holds


_BLOCK = 512  # rows read at a time when a job takes some of a file's images: memory stays one block over its own


def decoded_pixels(decoded_path, paths, preprocess) -> torch.Tensor | None:
    """The pixels of `paths`, in their order, from a decoded images file (write_decoded); None when
    it holds none (its dataset exceeded the preload budget). An error when the file was decoded
    another way than `preprocess`, or lacks one of the paths: it belongs to another dataset."""
    with h5py.File(decoded_path, "r", locking=False) as f:
        if f.attrs.get("decode") != _decode_key(preprocess):
            raise BaseselError(f"{decoded_path}: decoded as {f.attrs.get('decode')}, not as {_decode_key(preprocess)}")
        if "pixels" not in f:
            return None
        position = {path: i for i, path in enumerate(f["path"].asstr()[...])}
        try:
            rows = np.array([position[str(path)] for path in paths], dtype=np.int64)
        except KeyError as exc:
            raise BaseselError(f"{decoded_path} holds no image {exc.args[0]}: not a file of this dataset's index") from None
        pixels = f["pixels"]
        if len(rows) == len(position) and (rows == np.arange(len(rows))).all():
            return torch.from_numpy(pixels[...])
        out = np.empty((len(rows), *pixels.shape[1:]), dtype=np.uint8)
        blocks = rows // _BLOCK
        for b in np.unique(blocks):
            block = pixels[b * _BLOCK:(b + 1) * _BLOCK]
            take = blocks == b
            out[take] = block[rows[take] - b * _BLOCK]
    return torch.from_numpy(out)
