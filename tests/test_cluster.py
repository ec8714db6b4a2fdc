"""Paper scale and cluster execution without a cluster: the dataset readers, resource scaling,
image checks, and the SLURM site check (the paper DAG's job counts and grouping: test_reruns.py)."""
import numpy as np
import pandas as pd
import pytest
import torchvision.datasets as tvd
from PIL import Image

import fake_datasets as fake
from basesel import BaseselError
from basesel.data import tvdatasets
from basesel.data.folders import index_dataset, verify_images
from basesel.machinery import resources as cost_model
from basesel.machinery import slurm

# --- the Table 4 readers agree with torchvision's own classes -----------------------------------

def _torchvision_samples(name, root, split):
    if name == "StanfordCars":
        ds = tvd.StanfordCars(root, split=split)
        return [(p, y) for p, y in ds._samples]
    if name == "FGVCAircraft":
        ds = tvd.FGVCAircraft(root, split=split)
    elif name == "DTD":
        ds = tvd.DTD(root, split=split)
    elif name == "OxfordIIITPet":
        ds = tvd.OxfordIIITPet(root, split=split)
        return [(str(p), y) for p, y in zip(ds._images, ds._labels)]
    elif name == "Flowers102":
        ds = tvd.Flowers102(root, split=split)
    return [(str(p), y) for p, y in zip(ds._image_files, ds._labels)]


@pytest.fixture(scope="module")
def tvroot(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchvision")
    return root, fake.all_targets(root)


@pytest.mark.parametrize("name", ["StanfordCars", "FGVCAircraft", "DTD", "OxfordIIITPet", "Flowers102"])
def test_reader_matches_torchvision(tvroot, name, monkeypatch):
    root, counts = tvroot
    # Flowers102 checks the MD5 of the real annotation files; the fakes cannot match it.
    monkeypatch.setattr(tvd.Flowers102, "_check_integrity", lambda self: True)
    index = tvdatasets.index(name, root)
    train_splits, test_splits = tvdatasets.SPLITS[name]
    for split, names in (("train", train_splits), ("test", test_splits)):
        expected = [s for n in names for s in _torchvision_samples(name, root, n)]
        got = index[index.split == split]
        assert list(zip(got.path, got.label)) == [(str(p), int(y)) for p, y in expected]
        assert len(got) == counts[name][split]


def test_caltech_split_is_30_per_class_without_background(tvroot):
    root, _ = tvroot
    index = tvdatasets.index("Caltech101", root, seed=0)
    ds = tvd.Caltech101(root)
    assert sorted(set(index["class"])) == ds.categories  # BACKGROUND_Google dropped, like torchvision
    assert (index[index.split == "train"].groupby("class").size() == 30).all()
    assert len(index) == len(ds)
    assert index.path.is_unique
    again = tvdatasets.index("Caltech101", root, seed=0)
    assert again.equals(index)  # the seeded split is stable


def test_index_dataset_on_a_torchvision_layout(tvroot):
    root, counts = tvroot
    listing = tvdatasets.index("OxfordIIITPet", root)
    index = index_dataset(root, ("train", "test"), min_per_class={"train": 2}, listing=listing)
    assert index.groupby("split").size().to_dict() == counts["OxfordIIITPet"]


def test_missing_annotation_or_image_is_named(tmp_path):
    fake.oxford_pets(tmp_path)
    (tmp_path / "oxford-iiit-pet" / "annotations" / "test.txt").unlink()
    with pytest.raises(BaseselError, match="test.txt does not exist"):
        tvdatasets.index("OxfordIIITPet", tmp_path)
    fake.dtd(tmp_path)
    victim = next((tmp_path / "dtd" / "dtd" / "images").rglob("*.jpg"))
    victim.unlink()
    listing = tvdatasets.index("DTD", tmp_path)
    with pytest.raises(BaseselError, match="missing: .*" + victim.name):
        index_dataset(tmp_path, ("train", "test"), listing=listing)


# --- image checks: header vs decode, in worker processes -----------------------------------------

def test_verify_modes(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.jpg"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])  # a valid header, then the scan cut short
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image at all")
    verify_images([good], "header")
    verify_images([good], "decode")
    with pytest.raises(BaseselError, match="garbage.jpg"):
        verify_images([good, garbage], "header")
    verify_images([truncated], "header")  # the header alone looks fine ...
    with pytest.raises(BaseselError, match="truncated.jpg"):
        verify_images([truncated], "decode")  # ... a full decode finds the cut
    many = [good] * 1500 + [garbage]
    with pytest.raises(BaseselError, match="garbage.jpg"):
        verify_images(many, "decode", processes=2)  # the worker-process path


# --- resources ------------------------------------------------------------------------------------

def test_runtime_by_hand():
    arch = {"name": "resnet18", "width": 1.0, "input_size": 224}
    # GPU compute per training image: 3 * 1.81e9 / 2e13 = 2.715e-4 s; decode with 8 threads:
    # 1 / (120 * 8) = 1.0417e-3 s, which dominates. 100,000 images x 30 epochs:
    seconds = 30 * 100_000 * (1 / 960)
    assert cost_model.training_minutes(arch, train_images=100_000, eval_images=0, epochs=30, gpu=True, threads=8,
                              decoded=False) == round(cost_model.START_MINUTES + 1.5 * seconds / 60)
    # Preloaded data: compute-bound, and the second attempt gets twice the time.
    seconds = 30 * 100_000 * 3 * 1.81e9 / 2e13
    assert cost_model.training_minutes(arch, train_images=100_000, eval_images=0, epochs=30, gpu=True, threads=8,
                              decoded=True, attempt=2) == round(2 * (cost_model.START_MINUTES + 1.5 * seconds / 60))
    # VGG16 costs more than AlexNet at the same size; a quarter width costs 1/16.
    small = dict(train_images=1000, eval_images=0, epochs=1, gpu=False, threads=1, decoded=True)
    assert cost_model.seconds_per_image("vgg16", 1.0, 224, train=True, gpu=False, threads=1, decoded=True) > \
        cost_model.seconds_per_image("alexnet", 1.0, 224, train=True, gpu=False, threads=1, decoded=True)
    assert cost_model.seconds_per_image("resnet18", 0.25, 224, train=False, gpu=False, threads=1, decoded=True) == \
        pytest.approx(cost_model.seconds_per_image("resnet18", 1.0, 224, train=False, gpu=False, threads=1, decoded=True) / 16)
    assert cost_model.training_minutes(arch, **small) >= cost_model.START_MINUTES


def test_measured_rates_replace_the_assumed_ones(tmp_path):
    """A GPU check's TSV (benchmarks/gpu_check.py's columns): its rates, by hand."""
    tsv = tmp_path / "gpu.tsv"
    tsv.write_text("step\tname\tarch\tvalue\tunit\tdetail\n"
                   "environment\tgpu\t\t1\tGPUs\tH200\n"
                   "rates\ttrain_images_per_s\tresnet18\t1000\timages/s\t\n"
                   "rates\tfeatures_images_per_s\tresnet18\t4000\timages/s\t\n"
                   "rates\tdecode_images_per_s_per_core\t\t100\timages/s\t\n")
    rates = cost_model.read_rates(tsv)
    assert rates == {("train", "resnet18"): 1000.0, ("infer", "resnet18"): 4000.0, "decode": 100.0}
    kw = dict(gpu=True, threads=8, rates=rates)
    # decoded: the measured step; at half width and 112 px, 1/16 of its FLOPs
    assert cost_model.seconds_per_image("resnet18", 1.0, 224, train=True, decoded=True, **kw) == pytest.approx(1 / 1000)
    assert cost_model.seconds_per_image("resnet18", 0.5, 112, train=False, decoded=True, **kw) == pytest.approx(1 / 16 / 4000)
    # from JPEGs: 8 cores decode 800 images/s, slower than the 1,000 trained
    assert cost_model.seconds_per_image("resnet18", 1.0, 224, train=True, decoded=False, **kw) == pytest.approx(1 / 800)
    # an architecture the check did not measure keeps the assumed compute rate
    assert cost_model.seconds_per_image("vgg16", 1.0, 224, train=True, decoded=True, **kw) == pytest.approx(3 * 15.47e9 / 2e13)
    (tmp_path / "other.tsv").write_text("step\tname\tarch\tvalue\tunit\tdetail\n")
    with pytest.raises(ValueError, match="no rows of step `rates`"):
        cost_model.read_rates(tmp_path / "other.tsv")


def test_tsv_rows(tmp_path):
    path = tmp_path / "a.tsv"
    pd.DataFrame({"x": range(1234)}).to_csv(path, sep="\t", index=False)
    assert cost_model.tsv_rows(path, 7) == 1234
    assert cost_model.tsv_rows(tmp_path / "missing.tsv", 7) == 7


# --- the SLURM site check ---------------------------------------------------------------------------

SINFO = "gpu* up gpu:a100:4\ncpu up (null)\ndown down gpu:2\n"


def test_sinfo_parsing():
    parts = slurm.parse_sinfo(SINFO)
    assert parts["gpu"].default and parts["gpu"].has_gpu
    assert not parts["cpu"].default and not parts["cpu"].has_gpu
    assert not parts["down"].available


def test_partition_check_passes_and_names_problems():
    slurm.check_partitions({"pretrain": (None, True), "scores": ("cpu", False)}, SINFO)
    with pytest.raises(BaseselError, match="rule pretrain asks for a GPU but partition 'cpu' has none"):
        slurm.check_partitions({"pretrain": ("cpu", True)}, SINFO)
    with pytest.raises(BaseselError, match="(?s)slurm_partition 'gpus' is not a partition.*Partitions \\(sinfo\\): gpu\\*"):
        slurm.check_partitions({"scores": ("gpus", False)}, SINFO)
    with pytest.raises(BaseselError, match="no slurm_partition is set and the cluster has no default"):
        slurm.check_partitions({"scores": (None, False)}, "cpu up (null)\n")


def test_group_jobs_asking_for_several_gpus_are_named():
    slurm.check_groups({"gpu_resnet18_cw8-0": 1, "cpu_resnet18_cw8-0": 0})
    with pytest.raises(BaseselError, match="gpu_alexnet_hz2-1 \\(4 GPUs\\).*set cores in slurm/config.yaml"):
        slurm.check_groups({"gpu_alexnet_hz2-1": 4, "gpu_alexnet_hz2-0": 1})
