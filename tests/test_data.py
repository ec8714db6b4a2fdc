"""Embedded data generation, dataset indexing and validation, the paper's subsets, probe sets."""
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from basesel import BaseselError
from basesel.data import synthetic
from basesel.data.folders import index_dataset
from basesel.data.images import load_image
from basesel.data.subsets import make_subset, probe_rows, probe_table, subset_names, target_rows


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.png")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def small_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("src") / "source"
    synthetic.generate_source(root, seed=3, num_classes=8, train_per_class=6, val_per_class=2, size=32)
    return root


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, small_source):
    again = tmp_path / "again"
    synthetic.generate_source(again, seed=3, num_classes=8, train_per_class=6, val_per_class=2, size=32)
    assert tree_digest(again) == tree_digest(small_source)
    other = tmp_path / "other"
    synthetic.generate_source(other, seed=4, num_classes=8, train_per_class=6, val_per_class=2, size=32)
    assert tree_digest(other) != tree_digest(small_source)


def test_source_layout_and_families(small_source):
    classes = sorted(p.name for p in (small_source / "train").iterdir())
    assert classes == [f"c{c:03d}-{f}" for c, f in enumerate(["shape"] * 2 + ["texture"] * 2 + ["colour"] * 2 + ["glyph"] * 2)]
    assert len(list((small_source / "train" / classes[0]).glob("*.png"))) == 6
    assert len(list((small_source / "val" / classes[0]).glob("*.png"))) == 2
    assert not list(small_source.parent.glob(".*partial"))


def test_digits_target_is_real_data(tmp_path):
    root = tmp_path / "digits"
    synthetic.generate_target(root, kind="digits", seed=0, num_classes=3, train_per_class=5, test_per_class=4, size=32)
    assert sorted(p.name for p in (root / "test").iterdir()) == ["digit0", "digit1", "digit2"]
    img = load_image(str(root / "train" / "digit1" / "00000.png"), 32)
    assert img.shape == (3, 32, 32) and img.dtype == torch.uint8
    # Each image is one of scikit-learn's digits of its folder's class: the digit image it matches best
    # (correlation, at any shift within the jitter, either polarity of the tint) has that label.
    # Independent of how it was drawn; noise, or a digit under the wrong folder, would fail.
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < 3

    def unit(a):
        a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(axis=1, keepdims=True)
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    templates = unit(np.stack([np.asarray(Image.fromarray((np.pad(d / 16.0, 1) * 255).astype(np.uint8))
                                          .resize((32, 32), Image.BILINEAR), float) for d in digits.images[keep]]))
    labels = digits.target[keep]
    paths = sorted(root.glob("*/digit*/*.png"))
    assert len(paths) == 3 * (5 + 4)
    for path in paths:
        grey = np.asarray(Image.open(path).convert("L"), float)
        shifted = unit(np.stack([np.roll(grey, (dy, dx), axis=(0, 1)) for dy in range(-3, 4) for dx in range(-3, 4)]))
        match = np.abs(shifted @ templates.T).max(axis=0)
        assert labels[match.argmax()] == int(path.parent.name.removeprefix("digit")), path
        assert match.max() > 0.9, (path, match.max())


def test_index_and_validation_errors(tmp_path, small_source):
    index = index_dataset(small_source, ("train", "val"))
    assert len(index) == 8 * 8 and index.label.max() == 7
    with pytest.raises(BaseselError, match="does not exist"):
        index_dataset(tmp_path / "missing", ("train", "test"))
    with pytest.raises(BaseselError, match=r"fewer than 7 images in train/: c000-shape \(6\)"):
        index_dataset(small_source, ("train", "val"), min_per_class={"train": 7})

    one = tmp_path / "one" / "train" / "only"
    one.mkdir(parents=True)
    (one / "a.png").write_bytes((small_source / "train" / "c000-shape" / "00000.png").read_bytes())
    with pytest.raises(BaseselError, match="1 class"):
        index_dataset(tmp_path / "one", ("train",))

    broken = tmp_path / "broken"
    for cls in ("a", "b"):
        (broken / "train" / cls).mkdir(parents=True)
        (broken / "train" / cls / "ok.png").write_bytes((small_source / "train" / "c000-shape" / "00000.png").read_bytes())
    (broken / "train" / "b" / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(BaseselError, match="bad.png"):
        index_dataset(broken, ("train",))


def test_subsets_classwise_and_horizontal(small_source):
    index = index_dataset(small_source, ("train", "val"))
    assert subset_names(8, [4, 3], [2]) == ["cw4-0", "cw4-1", "cw3-0", "cw3-1", "hz2-0", "hz2-1"]
    cw = make_subset(index, "cw4-1", seed=0)
    assert list(dict.fromkeys(cw["class"])) == ["c004-colour", "c005-colour", "c006-glyph", "c007-glyph"]
    assert sorted(cw.label.unique()) == [0, 1, 2, 3]
    assert (cw.split == "val").sum() == 4 * 2
    parts = [make_subset(index, f"hz2-{i}", seed=0) for i in range(2)]
    train_paths = [set(p.path[p.split == "train"]) for p in parts]
    assert not train_paths[0] & train_paths[1]
    assert train_paths[0] | train_paths[1] == set(index.path[index.split == "train"])
    assert all(p[p.split == "train"].groupby("class").size().eq(3).all() for p in parts)
    assert all((p.split == "val").sum() == 16 for p in parts)  # horizontal subsets keep every class's val images


def test_probe_rows():
    train = pd.DataFrame({"label": np.repeat([0, 1, 2], [5, 4, 6]), "class": np.repeat(["a", "b", "c"], [5, 4, 6])})
    rows = probe_rows(train, 3, seed=1)
    assert len(rows) == 9
    assert (train.label.to_numpy()[rows] == np.repeat([0, 1, 2], 3)).all()
    assert (probe_rows(train, 3, seed=1) == rows).all()
    assert not (probe_rows(train, 3, seed=2) == rows).all()
    with pytest.raises(BaseselError, match="'b' has 4 training images, fewer than probe_per_class=5"):
        probe_rows(train, 5, seed=1)


def test_probe_table_and_target_rows():
    index = pd.DataFrame({"split": ["train"] * 6 + ["test"] * 2, "label": [0, 1, 0, 1, 0, 1, 0, 1],
                          "class": list("abababab"), "path": [f"p{i}" for i in range(8)]})
    probe = probe_table(index, 2, seed=0)
    train = index[index.split == "train"].reset_index(drop=True)
    assert (probe.path == train.path.iloc[probe.train_position].to_numpy()).all()
    assert probe.label.tolist() == [0, 0, 1, 1]
    rows, split = target_rows(index)
    assert rows.path.tolist() == index.path.tolist() and split.tolist() == [0] * 6 + [1] * 2
    # the probe's position in the train split is its row in the features file
    assert (rows.path.iloc[probe.train_position].to_numpy() == probe.path.to_numpy()).all()


def test_decoded_images_file_gives_each_image_as_its_own_decode(tmp_path, small_source, monkeypatch):
    """The decoded images file holds what load_image gives each file, for any subset of the rows in
    any order, at the size it was decoded at; a file decoded otherwise or of another dataset is an
    error; over the budget it holds no pixels and the images are decoded as before."""
    from basesel.data import images
    from basesel.data.images import decoded_pixels, image_dataset, write_decoded
    from basesel.data.preprocessing import Preprocess

    index = index_dataset(small_source, ("train", "val"))
    paths = index.path.tolist()
    out = tmp_path / "decoded" / "24px.h5"
    assert write_decoded(paths, 24, out, budget_mb=10)  # 32 px images resized: the resize is in the file
    rows = [17, 3, 40, 3, 0]  # a subset, out of order, one row twice
    some = [paths[i] for i in rows]
    pixels = decoded_pixels(out, some, 24)
    assert pixels.dtype == torch.uint8 and pixels.shape == (5, 3, 24, 24)
    for got, path in zip(pixels, some):
        assert torch.equal(got, load_image(path, 24))
    assert torch.equal(decoded_pixels(out, paths, 24)[40], load_image(paths[40], 24))
    monkeypatch.setattr(images, "_BLOCK", 7)  # rows taken from several blocks read one at a time
    assert torch.equal(decoded_pixels(out, some, 24), pixels)

    labels = index.label.to_numpy()[rows]
    ds = image_dataset(some, labels, 24, budget=10, decoded=out)
    direct = image_dataset(some, labels, 24, budget=10)
    for a, b in zip(ds.tensors, direct.tensors):
        assert a.dtype == b.dtype and torch.equal(a, b)

    with pytest.raises(BaseselError, match="decoded as"):
        decoded_pixels(out, some, 32)
    with pytest.raises(BaseselError, match="decoded as"):
        decoded_pixels(out, some, Preprocess(24, interpolation="bicubic"))
    with pytest.raises(BaseselError, match="holds no image /elsewhere.png"):
        decoded_pixels(out, [paths[0], "/elsewhere.png"], 24)

    over = tmp_path / "over.h5"
    assert not write_decoded(paths, 24, over, budget_mb=1e-3)
    assert decoded_pixels(over, some, 24) is None
    streamed = image_dataset(some, labels, 24, budget=10, decoded=over)
    assert torch.equal(streamed.tensors[0], direct.tensors[0])
    assert not list(out.parent.glob(".*"))  # no temporary file left
