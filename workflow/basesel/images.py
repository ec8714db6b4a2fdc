"""Decoding images into tensors: on demand for large datasets, into memory once for small ones."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .io import BaseselError
from .preload import fits_preload  # the same test sets the SLURM memory and runtime estimate

# ImageNet statistics: the normalisation torchvision's models are trained with.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def load_image(path: str, size: int) -> torch.Tensor:
    """Decode one image to a (3, size, size) uint8 tensor (RGB, bilinear resize)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise BaseselError(f"unreadable image {path}: {exc}") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


class ImageList(torch.utils.data.Dataset):
    """(image uint8, label) pairs decoded on demand: the streaming path for large datasets."""

    def __init__(self, paths, labels, size: int):
        self.paths = list(paths)
        self.labels = torch.as_tensor(np.array(labels, copy=True), dtype=torch.long)
        self.size = size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return load_image(self.paths[i], self.size), self.labels[i]


def preload(paths, labels, size: int, workers: int = 0) -> torch.utils.data.TensorDataset:
    """Decode a whole image list into memory once (small datasets: every epoch reuses it)."""
    ds = ImageList(paths, labels, size)
    batches = torch.utils.data.DataLoader(ds, batch_size=256, num_workers=workers)
    xs, ys = zip(*batches) if len(ds) else ((torch.empty(0, 3, size, size, dtype=torch.uint8),), (torch.empty(0, dtype=torch.long),))
    return torch.utils.data.TensorDataset(torch.cat(xs), torch.cat(ys))


def image_dataset(paths, labels, size: int, preload_max_mb: float, workers: int = 0):
    """Preloaded when it fits in `preload_max_mb`, else decoded on the fly."""
    return preload(paths, labels, size, workers) if fits_preload(len(paths), size, preload_max_mb) else ImageList(paths, labels, size)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B,3,H,W) to float, scaled and normalised with ImageNet statistics."""
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def loader(dataset, batch_size: int, device, workers: int = 0) -> torch.utils.data.DataLoader:
    """An in-order loader for a forward pass; decoded datasets need no worker processes."""
    if isinstance(dataset, torch.utils.data.TensorDataset):
        workers = 0  # already decoded in memory: worker processes would only copy it
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                                       pin_memory=device.type == "cuda")
