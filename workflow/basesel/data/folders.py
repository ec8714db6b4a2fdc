"""Datasets in ImageFolder layout: listing, indexing and checking every image.

A dataset root holds one folder per split (`train/`, `val/` or `test/`), each with one folder per
class; labels are class folders in sorted order, as torchvision's ImageFolder assigns them.
No torch here: the Snakefile lists class folders when it is parsed (images.py loads pixels).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from .. import BaseselError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


def class_folders(root, split: str) -> list[str]:
    """The class folders of root/split/, sorted as ImageFolder labels them; BaseselError naming
    what is missing (the folder, its split, any class folder)."""
    folder = Path(root) / split
    if not Path(root).is_dir():
        raise BaseselError(f"dataset folder {root} does not exist")
    if not folder.is_dir():
        raise BaseselError(f"{root} has no {split}/ folder (expected {root}/{split}/<class>/<image>)")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise BaseselError(f"{folder} holds no class folders")
    return classes


def scan_split(root, split: str) -> pd.DataFrame:
    """Rows (split, class, label, path) for root/split/<class>/<image>, sorted like ImageFolder."""
    folder = Path(root) / split
    classes = class_folders(root, split)
    rows = []
    for label, cls in enumerate(classes):
        files = sorted(
            p for p in (folder / cls).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        )
        rows.extend((split, cls, label, str(p)) for p in files)
    return pd.DataFrame(rows, columns=["split", "class", "label", "path"])


def _check_image(args) -> str | None:
    path, full = args
    try:
        with Image.open(path) as im:
            if full:
                im.convert("RGB").load()
            else:
                im.verify()  # header and structure; no pixel decode for JPEG
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        return f"{path} ({type(exc).__name__}: {exc})"
    return None


def verify_images(paths, mode: str = "decode", processes: int = 1) -> None:
    """Check every image (decode: fully decoded; header: header only); name each unreadable file.

    ImageNet's 1.3 M files take hours on one core with decode, so the check runs on `processes`
    worker processes (decoding holds the GIL for much of its time, so threads would not help).
    """
    if mode not in ("decode", "header"):
        raise ValueError(f"verify mode must be decode or header, not {mode!r}")
    jobs = [(str(p), mode == "decode") for p in paths]
    if processes > 1 and len(jobs) > 1000:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.map(_check_image, jobs, chunksize=256)
    else:
        results = [_check_image(j) for j in jobs]
    bad = [r for r in results if r is not None]
    if bad:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise BaseselError("unreadable images: " + "; ".join(bad[:10]) + more)


def index_dataset(root, splits: tuple[str, ...], *, min_per_class: dict[str, int] | None = None,
                  min_classes: int = 2, verify: str | None = "decode", processes: int = 1,
                  listing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Index and validate a dataset; raises BaseselError naming the first problem found.

    `listing` replaces the folder scan with ready rows (a torchvision-layout dataset's)."""
    if listing is None:
        frames = [scan_split(root, s) for s in splits]
    else:
        frames = [listing[listing.split == s].reset_index(drop=True) for s in splits]
        missing = [p for p in listing["path"] if not Path(p).is_file()]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise BaseselError(f"{root}: images listed in the annotation files are missing: {', '.join(missing[:5])}{more}")
    index = pd.concat(frames, ignore_index=True)
    first = frames[0]
    classes = list(dict.fromkeys(first["class"]))
    if len(classes) < min_classes:
        raise BaseselError(f"{root}: {len(classes)} class(es) in {splits[0]}/ but a classification task needs at least {min_classes}")
    for frame, split in zip(frames[1:], splits[1:]):
        if sorted(set(frame["class"])) != sorted(classes):
            raise BaseselError(f"{root}: the class folders of {split}/ differ from those of {splits[0]}/")
    for split, need in (min_per_class or {}).items():
        counts = index[index.split == split].groupby("class").size().reindex(classes, fill_value=0)
        short = counts[counts < need]
        if len(short):
            detail = ", ".join(f"{c} ({n})" for c, n in short.items())
            raise BaseselError(f"{root}: classes with fewer than {need} images in {split}/: {detail}")
    if verify:
        verify_images(index["path"], verify, processes)
    return index
