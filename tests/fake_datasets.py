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


# --- the field's benchmarks' other datasets (data/benchmarks.py) -------------------------------------

def _py2_pickle(obj, path: Path, numpy_module: bytes = b"numpy.core.multiarray") -> None:
    """`obj` pickled as Python 2's cPickle wrote CIFAR's batches: protocol 2, byte strings as
    BINSTRING (no _codecs global), the array builder under numpy's old module name."""
    import io
    import pickle
    import struct

    class Py2Pickler(pickle._Pickler):
        dispatch = dict(pickle._Pickler.dispatch)

        def save_bytes(self, data):
            n = len(data)
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + data if n < 256
                       else pickle.BINSTRING + struct.pack("<i", n) + data)
            self.memoize(data)

        dispatch[bytes] = save_bytes

    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().replace(b"numpy._core.multiarray\n", numpy_module + b"\n"))


def cifar(root: Path, dataset: str = "CIFAR10", per_batch: int = 4, numpy_module: bytes = b"numpy.core.multiarray") -> dict:
    """torchvision's CIFAR layout: pickled batches of uint8 rows (R plane, G plane, B plane)."""
    rng = np.random.default_rng(7)
    ten = dataset == "CIFAR10"
    base = root / ("cifar-10-batches-py" if ten else "cifar-100-python")
    classes = 10 if ten else 100
    files = {"train": [f"data_batch_{k}" for k in range(1, 6)] if ten else ["train"], "test": ["test_batch" if ten else "test"]}
    counts = {}
    for split, names in files.items():
        for name in names:
            labels = [int(v) for v in rng.integers(0, classes, per_batch)]
            labels[:2] = [0, 1]  # every split has two classes at least
            entry = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), "batch_label": name,
                     ("labels" if ten else "fine_labels"): labels, "filenames": [f"{name}_{i}.png" for i in range(per_batch)]}
            _py2_pickle(entry, base / name, numpy_module)
        counts[split] = per_batch * len(names)
    meta = {"label_names": [f"class{k}" for k in range(classes)]} if ten else {"fine_label_names": [f"fine{k}" for k in range(classes)]}
    _py2_pickle(meta, base / ("batches.meta" if ten else "meta"), numpy_module)
    return counts


def food101(root: Path, classes=("apple_pie", "baby_back_ribs", "caesar_salad"), train=2, test=1) -> dict:
    import json

    base = root / "food-101"
    (base / "meta").mkdir(parents=True, exist_ok=True)
    (base / "meta" / "classes.txt").write_text("".join(f"{c}\n" for c in classes))
    k = 0
    for split, per in (("train", train), ("test", test)):
        meta = {}
        for c in reversed(classes):  # JSON order is not the sorted order: the reader must not rely on it
            meta[c] = []
            for _ in range(per):
                k += 1
                _jpeg(base / "images" / c / f"{k}.jpg", k)
                meta[c].append(f"{c}/{k}")
        (base / "meta" / f"{split}.json").write_text(json.dumps(meta))
    return {"train": len(classes) * train, "test": len(classes) * test}


def sun397(root: Path, per=(2, 1), extra=1, partitions=True) -> dict:
    """SUN397/ with ClassName.txt, letter/class[/sub]/sun_*.jpg, and partition 1's lists; `extra`
    images per class in no partition (SUN397 has more images than its partitions)."""
    base = root / "SUN397"
    classes = ["/a/abbey", "/a/apartment_building/outdoor", "/b/bakery/shop"]
    base.mkdir(parents=True, exist_ok=True)
    (base / "ClassName.txt").write_text("".join(f"{c}\n" for c in classes))
    lists, k = {"Training_01.txt": [], "Testing_01.txt": []}, 0
    for c in classes:
        for name, n in (("Training_01.txt", per[0]), ("Testing_01.txt", per[1]), (None, extra)):
            for _ in range(n):
                k += 1
                rel = f"{c}/sun_{k:04d}.jpg"
                _jpeg(base / rel.lstrip("/"), k)
                if name:
                    lists[name].append(rel)
    if partitions:
        for name, lines in lists.items():
            (base / name).write_text("".join(f"{line}\n" for line in lines))
    return {"train": len(classes) * per[0], "test": len(classes) * per[1]}


# (image id, {class: mark}) per split: marks 1 present, 0 difficult only, -1 absent (others -1)
VOC_IMAGES = {
    "train": [("000005", {"chair": 1}), ("000007", {"car": 1}), ("000009", {"horse": 1, "person": 1})],
    "val": [("000012", {"car": 1}), ("000016", {"bicycle": 0, "person": 1})],
    "test": [("000001", {"dog": 1, "person": 1}), ("000002", {"train": 1}), ("000004", {"car": 0}),
             ("000006", {"chair": 1, "pottedplant": 1}), ("000008", {"horse": 1})],
}


def voc2007(root: Path) -> dict:
    from basesel.data.benchmarks import VOC_CLASSES

    base = root / "VOCdevkit" / "VOC2007"
    (base / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for split, images in VOC_IMAGES.items():
        for i, _ in images:
            _jpeg(base / "JPEGImages" / f"{i}.jpg", int(i))
        for c in VOC_CLASSES:  # the files' format: the id, then the mark (two spaces before a positive one)
            (base / "ImageSets" / "Main" / f"{c}_{split}.txt").write_text(
                "".join(f"{i} {' ' if marks.get(c, -1) >= 0 else ''}{marks.get(c, -1)}\n" for i, marks in images))
    return {s: len(v) for s, v in VOC_IMAGES.items()}
