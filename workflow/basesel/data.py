"""Datasets in ImageFolder layout: indexing, validation, the paper's subsets and probe sets.

A dataset root holds one folder per split (`train/`, `val/` or `test/`), each with one folder per
class; labels are class folders in sorted order, as torchvision's ImageFolder assigns them.
No torch here: the Snakefile uses this module when it is parsed (images.py loads pixels).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from .io import BaseselError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


def scan_split(root, split: str) -> pd.DataFrame:
    """Rows (split, class, label, path) for root/split/<class>/<image>, sorted like ImageFolder."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise BaseselError(f"dataset folder {folder} does not exist (expected {root}/{split}/<class>/<image>)")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise BaseselError(f"{folder} holds no class folders")
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


# --- the paper's section 4.1 subsets ------------------------------------------------------------

def subset_names(num_classes: int, classwise: list[int], horizontal: list[int]) -> list[str]:
    """cw{N}-{i}: the i-th block of N consecutive classes; hz{n}-{i}: the i-th of n parts of every class."""
    names = []
    for n in classwise:
        if n > num_classes:
            raise BaseselError(f"subsets.classwise: {n} classes per block but the source has {num_classes}")
        names += [f"cw{n}-{i}" for i in range(num_classes // n)]
    for n in horizontal:
        names += [f"hz{n}-{i}" for i in range(n)]
    return names


def make_subset(index: pd.DataFrame, name: str, seed: int) -> pd.DataFrame:
    """Rows of the source index (train and val) that form subset `name`, relabelled 0..K-1.

    Class-wise: train and val images of the block's classes. Horizontal: for every class, its
    training images shuffled with `seed` and cut into n near-equal parts; validation is all of val.
    """
    kind, rest = name[:2], name[2:]
    n, i = (int(v) for v in rest.split("-"))
    classes = list(dict.fromkeys(index.loc[index.split == "train", "class"]))
    if kind == "cw":
        keep = classes[i * n:(i + 1) * n]
        out = index[index["class"].isin(keep)].copy()
    elif kind == "hz":
        parts = []
        train = index[index.split == "train"]
        for cls, rows in train.groupby("class", sort=False):
            order = np.random.default_rng([seed, int(rows.label.iloc[0])]).permutation(len(rows))
            bounds = np.linspace(0, len(rows), n + 1).round().astype(int)
            parts.append(rows.iloc[np.sort(order[bounds[i]:bounds[i + 1]])])
        out = pd.concat(parts + [index[index.split != "train"]])
    else:
        raise BaseselError(f"unknown subset name {name!r}")
    relabel = {c: k for k, c in enumerate(dict.fromkeys(out.loc[out.split == "train", "class"]))}
    out = out[out["class"].isin(relabel)].copy()
    out["label"] = out["class"].map(relabel)
    return out.reset_index(drop=True)


def probe_rows(rows: pd.DataFrame, per_class: int, seed: int, *, short: str = "error") -> np.ndarray:
    """Positions in `rows` of a probe set: `per_class` images per class, drawn with `seed`.

    The draw of class `label` depends only on (seed, label) and the class's rows, so adding images
    of other classes changes nothing. A class with fewer than `per_class` rows is an error naming
    it (`short="error"`, a target's probe set: the paper takes 10 per class) or gives all its rows
    (`short="all"`, the source validation probe of Figure 1).
    """
    if per_class < 1:
        raise BaseselError(f"probe_per_class must be >= 1, got {per_class}")
    if short not in ("error", "all"):
        raise ValueError(f"short must be 'error' or 'all', not {short!r}")
    picks = []
    for label, group in rows.reset_index(drop=True).groupby("label"):
        if len(group) < per_class and short == "error":
            raise BaseselError(f"class {group['class'].iloc[0]!r} has {len(group)} training images, "
                               f"fewer than probe_per_class={per_class}")
        rng = np.random.default_rng([seed, int(label)])
        picks.append(np.sort(rng.choice(group.index.to_numpy(), size=min(per_class, len(group)), replace=False)))
    if not picks:
        raise BaseselError("no images to draw a probe set from")
    return np.concatenate(picks)


def target_rows(index: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """A target's train rows then its test rows (the order of every feature file), and the split
    of each row (0 train, 1 test)."""
    train = index[index.split == "train"]
    test = index[index.split == "test"]
    rows = pd.concat([train, test], ignore_index=True)
    return rows, np.r_[np.zeros(len(train), np.uint8), np.ones(len(test), np.uint8)]


def probe_table(index: pd.DataFrame, per_class: int, seed: int) -> pd.DataFrame:
    """The probe rows of a target (its train split), with `train_position`: the row's position in
    the train split, which is the row's position in the target's feature files too."""
    train = index[index.split == "train"].reset_index(drop=True)
    picks = probe_rows(train, per_class, seed)
    return train.iloc[picks].assign(train_position=picks).reset_index(drop=True)
