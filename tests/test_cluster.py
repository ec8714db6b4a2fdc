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
    # FLOPs of a ResNet-18 training image: 1.81 GMACs x 2 FLOPs x 3 passes. On the RTX 3090 (the
    # requests' device) its published rate, 3,481.78 images/s; validation at the forward rate, 11,188.75/s.
    assert cost_model.image_flops("resnet18", 1.0, 224, train=True) == pytest.approx(1.81e9 * 2 * 3)
    step, infer = 1 / 3481.78, 1 / 11188.75
    decode = 1 / (120 * 8)  # 8 threads decode a JPEG in 1.04 ms: slower than the GPU's step
    kw = dict(train_images=100_000, eval_images=5_000, epochs=30, gpu=True, threads=8)
    every = 30 * (100_000 * max(step, decode) + 5_000 * max(infer, decode))
    assert cost_model.training_minutes(arch, decode="every_epoch", **kw) == round(cost_model.START_MINUTES + 1.5 * every / 60)
    once = 105_000 * decode + 30 * (100_000 * step + 5_000 * infer)
    assert cost_model.training_minutes(arch, decode="once", **kw) == round(cost_model.START_MINUTES + 1.5 * once / 60)
    # decoded already: compute alone, and the second attempt gets twice the time
    none = 30 * (100_000 * step + 5_000 * infer)
    assert cost_model.training_minutes(arch, decode="none", attempt=2, **kw) == \
        round(2 * (cost_model.START_MINUTES + 1.5 * none / 60))
    with pytest.raises(ValueError, match="decode 'twice'"):
        cost_model.training_minutes(arch, decode="twice", **kw)
    # AlexNet has no published rate: the device's slowest effective FLOP/s (ResNet-18's training, 3.78e13)
    alexnet = cost_model.compute_seconds("alexnet", 1.0, 224, train=True, gpu=True, threads=8)
    assert alexnet == pytest.approx(0.71e9 * 6 / min(3481.78 * 1.81e9 * 6, 546.06 * 15.47e9 * 6))
    # the CPU: FLOPs over its threads, decoding in turn with the compute; a quarter width costs 1/16
    cpu = cost_model.compute_seconds("vgg16", 1.0, 224, train=False, gpu=False, threads=2)
    assert cpu == pytest.approx(15.47e9 * 2 / (2 * cost_model.CPU_FLOPS_PER_THREAD))
    assert cost_model.seconds_per_image("vgg16", 1.0, 224, train=False, gpu=False, threads=2, decoded=False) == \
        pytest.approx(cpu + 1 / 240)
    assert cost_model.compute_seconds("resnet18", 0.25, 224, train=False, gpu=True, threads=1) == pytest.approx(infer / 16)
    # how a training job decodes: once when memory or the local disk holds its images
    assert cost_model.training_decode(1000, 224, preload_max_mb=200, scratch_max_gb=0) == "once"  # 144 MiB
    assert cost_model.training_decode(10_000, 224, preload_max_mb=200, scratch_max_gb=2) == "once"  # 1.4 GiB
    assert cost_model.training_decode(10_000, 224, preload_max_mb=200, scratch_max_gb=1) == "every_epoch"


def test_the_device_table_cites_its_rates():
    for device in cost_model.DEVICES.values():
        assert device.source and device.train and device.infer
    # the estimate is said to be one, and the requests assume the slowest device
    assert "estimate" in cost_model.DEVICES["h100"].name
    slowest = min(cost_model.DEVICES.values(), key=lambda d: d.flops_per_s(True))
    assert cost_model.DEVICES[cost_model.REQUEST_DEVICE] == slowest


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
    # an architecture the check did not measure keeps the device table's published rate
    assert cost_model.seconds_per_image("vgg16", 1.0, 224, train=True, decoded=True, **kw) == pytest.approx(1 / 546.06)
    (tmp_path / "other.tsv").write_text("step\tname\tarch\tvalue\tunit\tdetail\n")
    with pytest.raises(ValueError, match="no rows of step `rates`"):
        cost_model.read_rates(tmp_path / "other.tsv")


def test_tsv_rows(tmp_path):
    path = tmp_path / "a.tsv"
    pd.DataFrame({"x": range(1234)}).to_csv(path, sep="\t", index=False)
    assert cost_model.tsv_rows(path, 7) == 1234
    assert cost_model.tsv_rows(tmp_path / "missing.tsv", 7) == 7


def test_tsv_split_rows(tmp_path):
    """A training job's request charges its `train` rows as training steps and the rest as
    validation passes (a subset's val rows, a target's test rows), counted by hand here."""
    path = tmp_path / "subset.tsv"
    rows = pd.DataFrame({"class": ["a"] * 10, "split": ["train"] * 6 + ["val"] * 3 + ["test"],
                         "label": 0, "path": [f"x/{i}.jpg" for i in range(10)]})
    rows.to_csv(path, sep="\t", index=False)
    assert cost_model.tsv_split_rows(path, 7) == (6, 4)
    assert cost_model.tsv_split_rows(tmp_path / "missing.tsv", 7) == (7, 0)  # before it exists: all as training
    rows.drop(columns="split").to_csv(tmp_path / "nosplit.tsv", sep="\t", index=False)
    with pytest.raises(ValueError, match="no `split` column"):
        cost_model.tsv_split_rows(tmp_path / "nosplit.tsv", 7)
    # the request falls by the validation images' share of a step: 4 of 10 images at a third of the cost
    arch = {"name": "resnet18", "width": 1.0, "input_size": 224}
    kw = dict(epochs=30, gpu=True, threads=8, decode="none")
    split = cost_model.training_seconds(arch, train_images=60_000, eval_images=40_000, **kw)
    whole = cost_model.training_seconds(arch, train_images=100_000, eval_images=0, **kw)
    assert split < whole
    assert split == pytest.approx(30 * (60_000 / 3481.78 + 40_000 / 11188.75))


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
