"""Small fake copies of the paper's datasets in their real on-disk layouts (tiny JPEGs).

ImageNet in folder layout, and the six Table 4 targets in the layouts torchvision's dataset
classes read. Used by the paper-scale dry run and by the readers' tests.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path, quality=70)


def imagenet(root: Path, classes: int = 1000, train: int = 1, val: int = 1) -> Path:
    """train/<wnid>/ and val/<wnid>/; one shared JPEG hard-linked to keep 1,000 classes cheap."""
    src = root / ".one.jpg"
    _jpeg(src, 0)
    for c in range(classes):
        wnid = f"n{c:08d}"
        for split, n in (("train", train), ("val", val)):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (folder / f"{wnid}_{i}.JPEG").hardlink_to(src)
    return root


def stanford_cars(root: Path, classes=3, train=2, test=2) -> dict:
    from scipy.io import savemat

    base = root / "stanford_cars"
    (base / "devkit").mkdir(parents=True, exist_ok=True)
    savemat(base / "devkit" / "cars_meta.mat", {"class_names": np.array([f"car {k}" for k in range(classes)], dtype=object)})
    counts = {}
    for split, per, mat, folder in (("train", train, base / "devkit" / "cars_train_annos.mat", "cars_train"),
                                    ("test", test, base / "cars_test_annos_withlabels.mat", "cars_test")):
        ann = np.zeros(classes * per, dtype=[("fname", object), ("class", np.uint8)])
        for i in range(classes * per):
            ann[i] = (f"{i + 1:05d}.jpg", i % classes + 1)
            _jpeg(base / folder / f"{i + 1:05d}.jpg", i)
        savemat(mat, {"annotations": ann})
        counts[split] = classes * per
    return counts


def fgvc_aircraft(root: Path, classes=3, trainval=2, test=1) -> dict:
    data = root / "fgvc-aircraft-2013b" / "data"
    data.mkdir(parents=True, exist_ok=True)
    names = [f"Boeing 7{k}7" for k in range(classes)]  # names with spaces, as in variants.txt
    (data / "variants.txt").write_text("".join(f"{n}\n" for n in names))
    counts, k = {}, 0
    for split, per in (("trainval", trainval), ("test", test)):
        lines = []
        for i in range(classes * per):
            k += 1
            _jpeg(data / "images" / f"{k:07d}.jpg", k)
            lines.append(f"{k:07d} {names[i % classes]}\n")
        (data / f"images_variant_{split}.txt").write_text("".join(lines))
        counts["train" if split == "trainval" else split] = classes * per
    return counts


def dtd(root: Path, classes=3, per=2) -> dict:
    data = root / "dtd" / "dtd"
    names = [f"texture{k}" for k in range(classes)]
    for split_i, split in enumerate(("train", "val", "test")):
        lines = []
        for c in names:
            for i in range(per):
                name = f"{c}_{split_i}{i:03d}.jpg"
                _jpeg(data / "images" / c / name, i)
                lines.append(f"{c}/{name}\n")
        (data / "labels").mkdir(parents=True, exist_ok=True)
        for partition in range(1, 11):
            (data / "labels" / f"{split}{partition}.txt").write_text("".join(lines))
    return {"train": 2 * classes * per, "test": classes * per}


def oxford_pets(root: Path, classes=3, trainval=2, test=2) -> dict:
    base = root / "oxford-iiit-pet"
    (base / "annotations").mkdir(parents=True, exist_ok=True)
    breeds = [f"breed_{chr(97 + k)}" for k in range(classes)]
    n = 0
    for split, per in (("trainval", trainval), ("test", test)):
        lines = []
        for k, b in enumerate(breeds):
            for i in range(per):
                n += 1
                _jpeg(base / "images" / f"{b}_{n}.jpg", n)
                lines.append(f"{b}_{n} {k + 1} {k % 2 + 1} 1\n")
        (base / "annotations" / f"{split}.txt").write_text("".join(lines))
    return {"train": classes * trainval, "test": classes * test}


def caltech101(root: Path, classes=3, per=32) -> dict:
    folder = root / "caltech101" / "101_ObjectCategories"
    for c in [*(f"object{k}" for k in range(classes)), "BACKGROUND_Google"]:
        for i in range(1, per + 1):
            _jpeg(folder / c / f"image_{i:04d}.jpg", i)
    return {"train": classes * 30, "test": classes * (per - 30)}


def flowers102(root: Path, per=(1, 1, 2)) -> dict:
    from scipy.io import savemat

    base = root / "flowers-102"
    classes = 102
    ids = {"trnid": [], "valid": [], "tstid": []}
    labels, k = [], 0
    for c in range(classes):
        for key, n in zip(ids, per):
            for _ in range(n):
                k += 1
                ids[key].append(k)
                labels.append(c + 1)
    for i in range(1, k + 1):
        _jpeg(base / "jpg" / f"image_{i:05d}.jpg", i)
    savemat(base / "imagelabels.mat", {"labels": np.array(labels)})
    savemat(base / "setid.mat", {key: np.array(v) for key, v in ids.items()})
    return {"train": classes * (per[0] + per[1]), "test": classes * per[2]}


TORCHVISION = {"StanfordCars": stanford_cars, "FGVCAircraft": fgvc_aircraft, "DTD": dtd,
               "OxfordIIITPet": oxford_pets, "Caltech101": caltech101, "Flowers102": flowers102}


def all_targets(root: Path) -> dict:
    """Every Table 4 dataset under one torchvision root; returns {dataset: {split: images}}."""
    return {name: make(root) for name, make in TORCHVISION.items()}
