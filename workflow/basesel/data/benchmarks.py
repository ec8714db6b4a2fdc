"""The target datasets of the field's model-selection benchmarks, in the on-disk layouts of
torchvision's dataset classes, with the split and label rule each benchmark's own code uses.

A torchvision target of the config names a `protocol`:
- `standard` (the default): the dataset's standard split (the paper's Table 4 readers are
  data.tvdatasets; this module adds CIFAR-10/100, Food-101, SUN397 and VOC2007);
- `tllib`: what TLlib's model-selection benchmark scores (thuml/Transfer-Learning-Library
  c4aa59e, examples/model_selection: `utils.get_dataset(split='train')`): the training split only;
- `sfda`: what SFDA's benchmark scores (TencentARC/SFDA 3b7edf7, forward_feature_group1.py uses
  `all_loader`, get_dataloader.py): every image of every split, train then test then val.
The target's "train" split is what the scores read; its "test" split is the benchmark's test split
(what the published accuracy is measured on). With a published ground truth (config `ground_truth`)
nothing is fine-tuned, so the test split is only carried along.

  dataset      tllib (train / test)           sfda (train / test)                  standard (train / test)
  StanfordCars train / test                   train+test / test                    (tvdatasets)
  FGVCAircraft trainval / test (1)            train+test+val / test                (tvdatasets)
  DTD          train1 / test1 (1)             train1+test1+val1 / test1            (tvdatasets)
  OxfordIIITPet trainval / test (1)           trainval+test / test                 (tvdatasets)
  Caltech101   not a rule: TLlib's list (2)   SFDA's split (3): train+test / test  (tvdatasets)
  Flowers102   not in TLlib                   train+test+val / test                (tvdatasets)
  CIFAR10/100  train / test                   train+test / test                    train / test
  Food101      not in TLlib                   train+test / test                    train / test
  SUN397       Training_01 / Testing_01 (4)   Training_01+Testing_01 / Testing_01  Training_01 / Testing_01
  VOC2007      not in TLlib                   train+test+val / test (5)            train+val / test (5)

(1) TLlib reads lists it hosts (image_list/train_100.txt, train.txt); their content could not be
    read here. Its docstrings and sizes point to the official splits named, which this reads.
(2) TLlib's Caltech-101 split is a list it hosts, not a rule in its code: point a `folder:` target at
    TLlib's own download (its train/ and test/ class folders) instead.
(3) ImageFolder's 102 classes (BACKGROUND_Google kept), files sorted; numpy's legacy seed 0; per
    class, 30 training images drawn *with replacement* (np.random.choice's default: SFDA's
    train.txt has 3,060 rows of 2,416 images); the test split is every other image.
(4) The partition files (Training_01.txt, Testing_01.txt of the dataset's Partitions.zip) are not
    part of torchvision's layout: copy them into the SUN397 folder beside ClassName.txt.
(5) VOC2007 is multi-label; SFDA scores each image with the first of the 20 classes (in
    alphabetical order) marked present and not difficult, class 0 where none is (forward_feature_group1
    takes the argmax of the multi-hot vector), and drops no image.

CIFAR's images are arrays in pickled batches: `unpack_cifar` writes them once as PNG files (read
with an unpickler that admits numpy arrays and nothing else), which the index then lists.
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from .. import BaseselError
from . import tvdatasets

PROTOCOLS = ("standard", "tllib", "sfda")
# The datasets this module adds to the paper's six, and their folder under torchvision's root.
ADDED = {"CIFAR10": "cifar-10-batches-py", "CIFAR100": "cifar-100-python", "Food101": "food-101",
         "SUN397": "SUN397", "VOC2007": "VOCdevkit/VOC2007"}
FOLDERS = {**tvdatasets.FOLDERS, **ADDED}
CLASSES = {**tvdatasets.CLASSES, "CIFAR10": 10, "CIFAR100": 100, "Food101": 101, "SUN397": 397, "VOC2007": 20}
# Datasets held as arrays, unpacked to PNG files before they are indexed.
ARRAYS = ("CIFAR10", "CIFAR100")
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")

# dataset -> protocol -> (the dataset's splits making the target's train split, those making its test split)
SPLITS = {
    "StanfordCars": {"tllib": (["train"], ["test"]), "sfda": (["train", "test"], ["test"])},
    "FGVCAircraft": {"tllib": (["trainval"], ["test"]), "sfda": (["train", "test", "val"], ["test"])},
    "DTD": {"tllib": (["train"], ["test"]), "sfda": (["train", "test", "val"], ["test"])},
    "OxfordIIITPet": {"tllib": (["trainval"], ["test"]), "sfda": (["trainval", "test"], ["test"])},
    "Flowers102": {"sfda": (["train", "test", "val"], ["test"])},
    "Caltech101": {"sfda": (["train", "test"], ["test"])},
    **{d: {"standard": (["train"], ["test"]), "tllib": (["train"], ["test"]), "sfda": (["train", "test"], ["test"])}
       for d in ("CIFAR10", "CIFAR100", "SUN397")},
    "Food101": {"standard": (["train"], ["test"]), "sfda": (["train", "test"], ["test"])},
    "VOC2007": {"standard": (["train", "val"], ["test"]), "sfda": (["train", "test", "val"], ["test"])},
}
WHY_NOT = {("Caltech101", "tllib"): "TLlib's Caltech-101 split is a list it hosts (image_list/train.txt), not a rule "
                                    "in its code; point a `folder:` target at TLlib's own download (its train/ and "
                                    "test/ class folders) instead"}


def is_standard(dataset: str, protocol: str) -> bool:
    """Whether data.tvdatasets reads this target (the paper's six at their standard split)."""
    return protocol == "standard" and dataset in tvdatasets.FOLDERS


def check(dataset: str, protocol: str) -> None:
    """An error naming why a dataset has no such protocol, before any job."""
    if dataset not in FOLDERS:
        raise BaseselError(f"unknown torchvision dataset {dataset!r}; one of {', '.join(FOLDERS)}")
    if protocol not in PROTOCOLS:
        raise BaseselError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    if not is_standard(dataset, protocol) and protocol not in SPLITS[dataset]:
        raise BaseselError(WHY_NOT.get((dataset, protocol), f"{dataset} is not in the {protocol} benchmark; its "
                                                            f"protocols: {', '.join(sorted({'standard', *SPLITS[dataset]}))}"))


def base_folder(dataset: str, root) -> Path:
    return Path(root) / FOLDERS[dataset]


def index(dataset: str, root, protocol: str = "standard", seed: int = 0) -> pd.DataFrame:
    """Rows (split, class, label, path) with splits train and test, as data.scan_split's: the
    target's train split (what the scores read) then its test split, by the protocol's rule. For
    an array dataset, `root` is the folder unpack_cifar wrote."""
    check(dataset, protocol)
    if is_standard(dataset, protocol):
        return tvdatasets.index(dataset, root, seed)
    if dataset not in ARRAYS:
        tvdatasets._need(base_folder(dataset, root), dataset)
    if dataset == "Caltech101":  # SFDA's own split rule: note (3)
        parts, classes = _caltech_sfda(root)
    else:
        parts, classes = {}, None
        for split in dict.fromkeys(s for group in SPLITS[dataset][protocol] for s in group):
            parts[split], classes = READERS[dataset](root, split)
    train_splits, test_splits = SPLITS[dataset][protocol]
    frames = []
    for name, splits in (("train", train_splits), ("test", test_splits)):
        rows = [row for s in splits for row in parts[s]]
        frames.append(pd.DataFrame([(name, classes[y], y, p) for p, y in rows], columns=["split", "class", "label", "path"]))
    return pd.concat(frames, ignore_index=True)


# --- the readers: (rows (path, label), classes) of one split in torchvision's layout ------------------

def _tv(dataset):
    def read(root, split):
        return tvdatasets.READERS[dataset](root, split)

    return read


def _caltech_sfda(root) -> tuple[dict, list]:
    """SFDA's Caltech-101 split (datasets/caltech101.py, create_caltech101_splits): note (3)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    folder = tvdatasets._need(base_folder("Caltech101", root) / "101_ObjectCategories", "Caltech101")
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir())
    images = [(str(folder / c / f), y) for y, c in enumerate(classes) for f in sorted(os.listdir(folder / c))
              if f.lower().endswith(IMG_EXTENSIONS)]
    labels = np.array([y for _, y in images])
    rng = np.random.RandomState(0)  # np.random.seed(0), then the global draws, as SFDA's code
    train = [int(i) for y in range(len(classes)) for i in np.sort(rng.choice(np.flatnonzero(labels == y), 30))]
    chosen = set(train)
    test = [i for i in range(len(images)) if i not in chosen]
    return {"train": [images[i] for i in train], "test": [images[i] for i in test]}, classes


def _cifar(root, split):
    """The PNG files unpack_cifar wrote: root/{split}/{i:05d}.png, labels in root/{split}_labels.txt."""
    root = Path(root)
    classes = tvdatasets._need(root / "classes.txt", "CIFAR").read_text().splitlines()
    labels = [int(v) for v in tvdatasets._need(root / f"{split}_labels.txt", "CIFAR").read_text().split()]
    return [(str(root / split / f"{i:05d}.png"), y) for i, y in enumerate(labels)], classes


def _food(root, split):
    base = base_folder("Food101", root)
    meta = json.loads(tvdatasets._need(base / "meta" / f"{split}.json", "Food101").read_text())
    classes = sorted(meta)  # torchvision's; SFDA's classes.txt order is the same (alphabetical)
    index = {c: i for i, c in enumerate(classes)}
    return [(str(base / "images" / f"{p}.jpg"), index[c]) for c, paths in meta.items() for p in paths], classes


def _sun397(root, split):
    base = base_folder("SUN397", root)
    classes = [line[3:].strip() for line in open(tvdatasets._need(base / "ClassName.txt", "SUN397"))]
    index = {c: i for i, c in enumerate(classes)}
    name = {"train": "Training_01.txt", "test": "Testing_01.txt"}[split]
    listing = base / name
    if not listing.is_file():
        raise BaseselError(f"SUN397: {listing} does not exist; the partition files are not part of torchvision's layout: "
                           f"copy Training_01.txt and Testing_01.txt from the dataset's Partitions.zip beside ClassName.txt")
    rows = []
    for line in open(listing):
        rel = line.strip().lstrip("/")
        if rel:
            rows.append((str(base / rel), index["/".join(rel.split("/")[1:-1])]))
    return rows, classes


def _voc(root, split):
    """SFDA's single label of a VOC2007 image: note (5). Images in the order of aeroplane_{split}.txt."""
    main = base_folder("VOC2007", root) / "ImageSets" / "Main"
    marks = {}
    for k, c in enumerate(VOC_CLASSES):
        for line in open(tvdatasets._need(main / f"{c}_{split}.txt", "VOC2007")):
            parts = line.split()
            if parts:
                marks.setdefault(parts[0], [0] * len(VOC_CLASSES))[k] = int(parts[-1])
    images = base_folder("VOC2007", root) / "JPEGImages"
    rows = [(str(images / f"{i}.jpg"), next((k for k, v in enumerate(m) if v == 1), 0)) for i, m in marks.items()]
    return rows, list(VOC_CLASSES)


READERS = {**{d: _tv(d) for d in tvdatasets.READERS}, "CIFAR10": _cifar, "CIFAR100": _cifar, "Food101": _food,
           "SUN397": _sun397, "VOC2007": _voc}


# --- CIFAR's pickled batches ----------------------------------------------------------------------

CIFAR_FILES = {"CIFAR10": {"train": [f"data_batch_{k}" for k in range(1, 6)], "test": ["test_batch"],
                           "meta": ("batches.meta", "label_names"), "labels": "labels"},
               "CIFAR100": {"train": ["train"], "test": ["test"], "meta": ("meta", "fine_label_names"),
                            "labels": "fine_labels"}}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays, lists, dicts, strings and numbers, and nothing else:
    a CIFAR batch needs no other global, and a file naming one is refused before it can run code."""

    def find_class(self, module, name):
        from numpy._core import multiarray

        allowed = {("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
                   ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
                   ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
        if (module, name) not in allowed:
            raise BaseselError(f"refused: the file names {module}.{name}; a CIFAR batch holds numpy arrays, lists and "
                               f"numbers only")
        return allowed[(module, name)]


def _batch(path: Path) -> dict:
    with open(tvdatasets._need(path, "CIFAR"), "rb") as fh:
        try:
            return _ArraysOnly(fh, encoding="latin1").load()
        except BaseselError as exc:
            raise BaseselError(f"{path}: {exc}") from None
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise BaseselError(f"{path}: not a CIFAR batch ({exc})") from None


def unpack_cifar(dataset: str, root, out) -> dict:
    """Write a CIFAR dataset's images (torchvision's layout under `root`) as PNG files under `out`
    (out/{split}/{i:05d}.png, in torchvision's order), their labels (out/{split}_labels.txt) and
    class names (out/classes.txt); {split: images}."""
    from PIL import Image

    spec = CIFAR_FILES[dataset]
    base = base_folder(dataset, root)
    meta_file, key = spec["meta"]
    out = Path(out)
    (out / "classes.txt").parent.mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("".join(f"{c}\n" for c in _batch(base / meta_file)[key]))
    counts = {}
    for split in ("train", "test"):
        (out / split).mkdir(parents=True, exist_ok=True)
        labels, n = [], 0
        for name in spec[split]:
            entry = _batch(base / name)
            pixels = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            for image in pixels:
                Image.fromarray(image).save(out / split / f"{n:05d}.png")
                n += 1
            labels += [int(v) for v in entry[spec["labels"]]]
        if len(labels) != n:
            raise BaseselError(f"{base}: {n} images but {len(labels)} labels in the {split} batches")
        (out / f"{split}_labels.txt").write_text("".join(f"{y}\n" for y in labels))
        counts[split] = n
    return counts
