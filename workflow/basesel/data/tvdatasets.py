"""The paper's six target datasets (Table 4) in the on-disk layouts of torchvision's dataset classes.

A root that torchvision downloaded or that follows its layout works as is; nothing is downloaded
here. Each reader returns the same (path, label) lists as the torchvision class (tested against
it), without the classes' private attributes or their checksum of the annotation files, and with
the standard train/test split of the paper's Table 4:

  StanfordCars   train / test                         8,144 / 8,041, 196 classes
  FGVCAircraft   trainval / test (variant level)       6,667 / 3,333, 100 classes
  DTD            train1 + val1 / test1                 3,760 / 1,880,  47 classes
  OxfordIIITPet  trainval / test                       3,680 / 3,669,  37 classes
  Caltech101     30 per class (seeded) / the rest      3,030 / 5,647, 101 classes *
  Flowers102     train + val / test                    2,040 / 6,149, 102 classes

* torchvision drops the BACKGROUND_Google folder, so 101 classes; the paper counts 102 (3,060 /
  6,084). Caltech-101 has no official split: 30 training images per class is the usual protocol.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import BaseselError

# Folder under the root that each dataset's torchvision class reads; classes per dataset.
FOLDERS = {"StanfordCars": "stanford_cars", "FGVCAircraft": "fgvc-aircraft-2013b", "DTD": "dtd",
           "OxfordIIITPet": "oxford-iiit-pet", "Caltech101": "caltech101", "Flowers102": "flowers-102"}
CLASSES = {"StanfordCars": 196, "FGVCAircraft": 100, "DTD": 47, "OxfordIIITPet": 37, "Caltech101": 101, "Flowers102": 102}
CALTECH_TRAIN_PER_CLASS = 30


def base_folder(dataset: str, root) -> Path:
    return Path(root) / FOLDERS[dataset]


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise BaseselError(f"{what}: {path} does not exist (expected torchvision's layout of the dataset)")
    return path


def _loadmat(path: Path, what: str):
    from scipy.io import loadmat

    return loadmat(_need(path, what), squeeze_me=True)


def _cars(root, split):
    base = base_folder("StanfordCars", root)
    mat = base / "devkit" / "cars_train_annos.mat" if split == "train" else base / "cars_test_annos_withlabels.mat"
    images = base / ("cars_train" if split == "train" else "cars_test")
    classes = _loadmat(base / "devkit" / "cars_meta.mat", "StanfordCars")["class_names"].tolist()
    return [(str(images / a["fname"]), int(a["class"]) - 1) for a in _loadmat(mat, "StanfordCars")["annotations"]], classes


def _aircraft(root, split):
    data = base_folder("FGVCAircraft", root) / "data"
    classes = [line.strip() for line in open(_need(data / "variants.txt", "FGVCAircraft"))]
    index = {c: i for i, c in enumerate(classes)}
    rows = []
    for line in open(_need(data / f"images_variant_{split}.txt", "FGVCAircraft")):
        name, label = line.strip().split(" ", 1)
        rows.append((str(data / "images" / f"{name}.jpg"), index[label]))
    return rows, classes


def _dtd(root, split):
    data = base_folder("DTD", root) / "dtd"
    names = []
    for line in open(_need(data / "labels" / f"{split}1.txt", "DTD")):
        cls, name = line.strip().split("/")
        names.append((cls, name))
    classes = sorted({c for c, _ in names})  # torchvision: sorted classes of the split file
    index = {c: i for i, c in enumerate(classes)}
    return [(str(data / "images" / c / n), index[c]) for c, n in names], classes


def _pets(root, split):
    base = base_folder("OxfordIIITPet", root)
    rows, names = [], {}
    for line in open(_need(base / "annotations" / f"{split}.txt", "OxfordIIITPet")):
        image_id, label, *_ = line.strip().split()
        rows.append((str(base / "images" / f"{image_id}.jpg"), int(label) - 1))
        names[int(label) - 1] = " ".join(p.title() for p in image_id.rsplit("_", 1)[0].split("_"))
    return rows, [names[k] for k in sorted(names)]


def _flowers(root, split):
    base = base_folder("Flowers102", root)
    ids = _loadmat(base / "setid.mat", "Flowers102")[{"train": "trnid", "val": "valid", "test": "tstid"}[split]].tolist()
    labels = dict(enumerate((_loadmat(base / "imagelabels.mat", "Flowers102")["labels"] - 1).tolist(), 1))
    rows = [(str(base / "jpg" / f"image_{i:05d}.jpg"), int(labels[i])) for i in ids]
    return rows, [str(k) for k in range(CLASSES["Flowers102"])]


def _caltech(root, seed: int):
    folder = _need(base_folder("Caltech101", root) / "101_ObjectCategories", "Caltech101")
    classes = sorted(p for p in os.listdir(folder) if p != "BACKGROUND_Google")
    train, test = [], []
    for label, cls in enumerate(classes):
        n = len(os.listdir(folder / cls))  # torchvision: image_0001.jpg .. image_{n}.jpg
        paths = [str(folder / cls / f"image_{i:04d}.jpg") for i in range(1, n + 1)]
        pick = set(np.random.default_rng([seed, label]).permutation(n)[:CALTECH_TRAIN_PER_CLASS].tolist())
        for i, p in enumerate(paths):
            (train if i in pick else test).append((p, label))
    return train, test, classes


SPLITS = {"StanfordCars": (["train"], ["test"]), "FGVCAircraft": (["trainval"], ["test"]),
          "DTD": (["train", "val"], ["test"]), "OxfordIIITPet": (["trainval"], ["test"]),
          "Flowers102": (["train", "val"], ["test"])}
READERS = {"StanfordCars": _cars, "FGVCAircraft": _aircraft, "DTD": _dtd, "OxfordIIITPet": _pets, "Flowers102": _flowers}


def index(dataset: str, root, seed: int = 0) -> pd.DataFrame:
    """Rows (split, class, label, path) with splits train and test, like data.scan_split's."""
    if dataset not in FOLDERS:
        raise BaseselError(f"unknown torchvision dataset {dataset!r}; one of {', '.join(FOLDERS)}")
    _need(base_folder(dataset, root), dataset)
    if dataset == "Caltech101":
        train, test, classes = _caltech(root, seed)
        parts = {"train": train, "test": test}
    else:
        parts = {}
        for split, names in zip(("train", "test"), SPLITS[dataset]):
            rows = []
            for name in names:
                got, classes = READERS[dataset](root, name)
                rows += got
            parts[split] = rows
    frames = [pd.DataFrame([(split, classes[y], y, p) for p, y in rows], columns=["split", "class", "label", "path"])
              for split, rows in parts.items()]
    return pd.concat(frames, ignore_index=True)
