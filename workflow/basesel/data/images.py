"""Decoding images into model inputs (preprocessing.Preprocess): on demand for large datasets, into
memory once for small ones."""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .. import BaseselError
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
    batches = torch.utils.data.DataLoader(ds, batch_size=256, num_workers=workers)
    xs, ys = zip(*batches) if len(ds) else ((torch.empty(0, 3, size, size, dtype=torch.uint8),), (torch.empty(0, dtype=torch.long),))
    return torch.utils.data.TensorDataset(torch.cat(xs), torch.cat(ys))


def image_dataset(paths, labels, preprocess, preload_max_mb: float, workers: int = 0):
    """Preloaded when it fits in `preload_max_mb`, else decoded on the fly."""
    size = Preprocess.of(preprocess).input_size
    if fits_preload(len(paths), size, preload_max_mb):
        return preload(paths, labels, preprocess, workers)
    return ImageList(paths, labels, preprocess)


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
