"""The field's benchmarks' datasets (data/benchmarks.py) on fake copies in torchvision's layouts:
each reader against torchvision's own class where one reads the same files (pixels, paths, labels),
SFDA's rules against a second implementation or labels worked out by hand, and the configs
configs/tllib.yaml and configs/sfda.yaml planned on fakes with no fine-tuning job."""
import copy
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets as tvd
import yaml
from PIL import Image

import fake_datasets as fake
from basesel import BaseselError
from basesel.data import benchmarks
from helpers import ROOT, planned_jobs


@pytest.mark.parametrize("dataset, module", [("CIFAR10", b"numpy.core.multiarray"), ("CIFAR100", b"numpy._core.multiarray")])
def test_cifar_unpacked_equals_torchvisions_and_each_protocol_takes_its_splits(tmp_path, monkeypatch, dataset, module):
    counts = fake.cifar(tmp_path / "tv", dataset, numpy_module=module)
    written = benchmarks.unpack_cifar(dataset, tmp_path / "tv", tmp_path / "out")
    assert written == counts
    cls = getattr(tvd, dataset)
    monkeypatch.setattr(tvd.cifar, "check_integrity", lambda *a: True)  # its MD5s are the real files'
    monkeypatch.setattr(cls, "_check_integrity", lambda self: True)
    # torchvision reads the fakes with the full pickle: files this test wrote itself
    split_of = {part: cls(tmp_path / "tv", train=part == "train") for part in ("train", "test")}
    for protocol, train in (("tllib", ["train"]), ("sfda", ["train", "test"]), ("standard", ["train"])):
        index = benchmarks.index(dataset, tmp_path / "out", protocol)
        for split, parts in (("train", train), ("test", ["test"])):
            expected = [(img, y) for part in parts for img, y in zip(split_of[part].data, split_of[part].targets)]
            rows = index[index.split == split]
            assert len(rows) == len(expected)
            for (img, y), path, label in zip(expected, rows.path, rows.label):
                assert label == y and np.array_equal(np.asarray(Image.open(path)), img)
    assert set(index["class"]) <= set(split_of["train"].classes)


def test_a_cifar_batch_naming_any_other_global_is_refused_and_runs_nothing(tmp_path):
    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'ran'}",)

    fake.cifar(tmp_path, "CIFAR10")
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}, protocol=2))
    with pytest.raises(BaseselError, match="data_batch_3: refused: the file names posix.system"):
        benchmarks.unpack_cifar("CIFAR10", tmp_path, tmp_path / "out")
    assert not (tmp_path / "ran").exists()


def test_food101_against_torchvision(tmp_path):
    counts = fake.food101(tmp_path)
    index = benchmarks.index("Food101", tmp_path, "sfda")
    for split in ("train", "test"):
        ds = tvd.Food101(tmp_path, split=split)
        got = index[index.split == split]
        parts = ["train", "test"] if split == "train" else ["test"]
        expected = [(str(p), y) for part in parts for p, y in zip(tvd.Food101(tmp_path, split=part)._image_files,
                                                                   tvd.Food101(tmp_path, split=part)._labels)]
        assert list(zip(got.path, got.label)) == expected
        assert list(got["class"].map(ds.class_to_idx)) == list(got.label)
    standard = benchmarks.index("Food101", tmp_path)
    assert standard.groupby("split").size().to_dict() == counts


def test_sun397_partition_one_with_torchvisions_labels(tmp_path):
    fake.sun397(tmp_path)
    index = benchmarks.index("SUN397", tmp_path, "tllib")
    ds = tvd.SUN397(tmp_path)
    by_path = {str(p): y for p, y in zip(ds._image_files, ds._labels)}
    assert all(by_path[p] == y for p, y in zip(index.path, index.label))  # torchvision's label of each image
    listed = (tmp_path / "SUN397" / "Training_01.txt").read_text().split()
    train = index[index.split == "train"]
    assert [p[len(str(tmp_path / "SUN397")):] for p in train.path] == listed  # partition 1, its order
    assert len(by_path) > len(index)  # the images in no partition are left out
    assert set(index["class"]) == set(ds.classes)
    sfda = benchmarks.index("SUN397", tmp_path, "sfda")
    assert (sfda.split == "train").sum() == len(index)  # Training_01 + Testing_01
    (tmp_path / "SUN397" / "Testing_01.txt").unlink()
    with pytest.raises(BaseselError, match="Testing_01.txt does not exist.*Partitions.zip"):
        benchmarks.index("SUN397", tmp_path, "tllib")


def test_voc2007_single_labels_as_sfda_scores_them(tmp_path):
    fake.voc2007(tmp_path)
    index = benchmarks.index("VOC2007", tmp_path, "sfda")
    cls = benchmarks.VOC_CLASSES.index
    # by hand: the first present (not difficult) class in alphabetical order; none present: 0
    by_hand = {"000005": cls("chair"), "000007": cls("car"), "000009": cls("horse"), "000012": cls("car"),
               "000016": cls("person"), "000001": cls("dog"), "000002": cls("train"), "000004": 0,
               "000006": cls("chair"), "000008": cls("horse")}
    train = index[index.split == "train"]
    assert [Path(p).stem for p in train.path] == ["000005", "000007", "000009", "000001", "000002", "000004",
                                                   "000006", "000008", "000012", "000016"]  # train, test, val
    assert all(by_hand[Path(p).stem] == y for p, y in zip(index.path, index.label))
    assert (index.split == "test").sum() == 5
    # torchvision's VOC layout is the one read: every listed image is where torchvision keeps it
    assert all(Path(p).parent == tmp_path / "VOCdevkit" / "VOC2007" / "JPEGImages" for p in index.path)


def test_caltech101_sfda_split_against_a_second_implementation(tmp_path):
    """SFDA's rule done the way its code does it: torchvision's ImageFolder for the listing, numpy's
    global seed and np.random.choice; the reader uses neither."""
    fake.caltech101(tmp_path, classes=4, per=34)
    index = benchmarks.index("Caltech101", tmp_path, "sfda")
    folder = tvd.ImageFolder(tmp_path / "caltech101" / "101_ObjectCategories")
    targets = np.array(folder.targets)
    np.random.seed(0)
    train = [i for y in range(len(folder.classes)) for i in np.sort(np.random.choice(np.flatnonzero(targets == y), 30))]
    test = [i for i in range(len(targets)) if i not in set(train)]
    expected = [folder.samples[i] for i in train] + [folder.samples[i] for i in test]
    got = index[index.split == "train"]
    assert list(zip(got.path, got.label)) == [(str(p), y) for p, y in expected]
    assert list(index[index.split == "test"].path) == [folder.samples[i][0] for i in test]
    assert "BACKGROUND_Google" in set(index["class"]) and index["class"].nunique() == 5
    assert len(set(train)) < len(train)  # drawn with replacement, as SFDA's split file holds duplicates


@pytest.mark.parametrize("dataset, protocol, message", [
    ("Caltech101", "tllib", "a list it hosts"), ("Food101", "tllib", "Food101 is not in the tllib benchmark"),
    ("VOC2007", "tllib", "not in the tllib benchmark"), ("Flowers102", "tllib", "not in the tllib benchmark"),
    ("ImageNet", "sfda", "unknown torchvision dataset"), ("DTD", "kornblith", "unknown protocol"),
])
def test_a_protocol_a_dataset_has_not_is_named(dataset, protocol, message):
    with pytest.raises(BaseselError, match=message):
        benchmarks.check(dataset, protocol)


def test_the_paper_datasets_by_each_benchmarks_split(tmp_path):
    counts = fake.all_targets(tmp_path)
    dtd = benchmarks.index("DTD", tmp_path, "sfda")
    assert (dtd.split == "train").sum() == 3 * counts["DTD"]["test"]  # train1 + test1 + val1
    assert (benchmarks.index("DTD", tmp_path, "tllib").split == "train").sum() == counts["DTD"]["test"]  # train1
    cars = benchmarks.index("StanfordCars", tmp_path, "sfda")
    assert (cars.split == "train").sum() == counts["StanfordCars"]["train"] + counts["StanfordCars"]["test"]
    assert benchmarks.index("OxfordIIITPet", tmp_path, "tllib").equals(benchmarks.index("OxfordIIITPet", tmp_path))


# --- the two benchmarks as configs ---------------------------------------------------------------

def benchmark_config(name, folder):
    """configs/NAME.yaml with its SITE paths pointed at fakes: empty weight files (planning reads no
    weights), each target's folder in torchvision's layout (planning reads no image)."""
    cfg = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    for t in cfg["targets"]:
        if "torchvision" in t:
            t["torchvision"]["root"] = str(folder / "torchvision")
            benchmarks.base_folder(t["torchvision"]["dataset"], folder / "torchvision").mkdir(parents=True, exist_ok=True)
        else:
            t["folder"] = str(folder / t["name"])
            for split in ("train", "test"):
                for c in ("a", "b"):
                    (folder / t["name"] / split / c).mkdir(parents=True, exist_ok=True)
    for z in cfg["zoo"]:
        z["weights"] = str(folder / "weights" / Path(z["weights"]).name)
        Path(z["weights"]).parent.mkdir(parents=True, exist_ok=True)
        Path(z["weights"]).touch()
    return cfg


@pytest.mark.parametrize("name, models, targets", [("tllib", 10, 8), ("sfda", 11, 11)])
def test_each_benchmark_config_plans_forward_passes_only(tmp_path, name, models, targets):
    cfg = benchmark_config(name, tmp_path / "data")
    plan = planned_jobs(tmp_path, cfg)
    pairs = models * targets
    assert "finetune_head" not in plan.counts and "finetune_full" not in plan.counts
    assert {r: plan.counts[r] for r in ("zoo_model", "features", "featuremaps", "scores", "baselines")} == {
        "zoo_model": models, "features": pairs, "featuremaps": pairs, "scores": pairs, "baselines": pairs}
    assert not {"subset", "pretrain", "pretrain_whole"} & set(plan.counts)
    cifar = [t["name"] for t in cfg["targets"] if t.get("torchvision", {}).get("dataset", "").startswith("CIFAR")]
    assert plan.counts["unpack_arrays"] == len(cifar) == 2
    # the benchmark targets' own rules pass their scripts' code digests, as every rule does (test_codedeps.py)
    from basesel.machinery.codedeps import digest

    codes = {rule: (script, code) for rule, script, code in plan.code}
    for rule in ("index_benchmark", "unpack_arrays"):
        script, code = codes[rule]
        assert code == digest(Path(script), ROOT / "workflow")
