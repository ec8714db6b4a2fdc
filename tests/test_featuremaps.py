"""Featuremap and features files: the values the model produces, and nothing left behind on failure."""
import h5py
import numpy as np
import pytest
import torch

from basesel import BaseselError
from basesel.compute.passes import full_float32, write_featuremap_file, write_features_file
from basesel.data import synthetic
from basesel.data.folders import index_dataset
from basesel.data.images import load_image, normalise
from basesel.data.subsets import probe_table
from basesel.models.paper import ArchSpec, build_model, probed
from basesel.science.featuremap_scores import paper_scores, scores_from_h5
from basesel.science.transfer import baseline_scores
from helpers import direct_forward


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    root = tmp_path_factory.mktemp("t") / "shapes"
    synthetic.generate_target(root, kind="shape", seed=1, num_classes=3, train_per_class=6, test_per_class=3, size=64)
    return root, index_dataset(root, ("train", "test"))


@pytest.mark.parametrize("arch,width,size", [("resnet18", 0.125, 64), ("alexnet", 0.125, 64)])
def test_extract_matches_direct_forward(tmp_path, target, arch, width, size):
    root, index = target
    spec = ArchSpec(arch, width, size, 7)
    torch.manual_seed(0)
    model = build_model(spec).eval()
    probe = probe_table(index, 4, seed=0)
    read = probed(model, spec, "m")
    write_featuremap_file(read, probe, tmp_path / "fm.h5", batch_size=5, device=torch.device("cpu"),
                          attrs={"subset": "x"})
    write_features_file(read, index, tmp_path / "features.h5", batch_size=5, device=torch.device("cpu"),
                        attrs={"source_val_acc": 0.5})
    with h5py.File(tmp_path / "fm.h5") as f:
        fm, labels, probe_index = f["featuremaps"][:], f["labels"][:], f["probe_index"][:]
        attrs = dict(f.attrs)
        assert f["featuremaps"].compression == "lzf" and f["featuremaps"].chunks is not None
    with h5py.File(tmp_path / "features.h5") as f:
        feats, flabels, split, probs = f["features"][:], f["feature_labels"][:], f["feature_split"][:], f["source_probs"][:]
    train = index[index.split == "train"].reset_index(drop=True)
    assert len(probe_index) == 12 and np.bincount(labels).tolist() == [4, 4, 4]
    assert (split == 0).sum() == 18 and (split == 1).sum() == 9
    assert (flabels[split == 0] == train.label).all()
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    assert attrs["arch"] == arch and attrs["layer"] in ("layer4.1", "features.11") and attrs["subset"] == "x"
    # The direct way: the probe images through the modules by hand, in one batch.
    x = torch.stack([load_image(p, size) for p in train.path.iloc[probe_index]])
    direct_fm, direct_pen = direct_forward(model, arch, normalise(x))
    np.testing.assert_allclose(fm, direct_fm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats[probe_index], direct_pen.numpy(), rtol=1e-5, atol=1e-6)
    assert (flabels[probe_index] == labels).all()
    from_file = scores_from_h5(tmp_path / "fm.h5")
    direct = paper_scores(direct_fm.numpy().astype(np.float64), labels)
    assert from_file == pytest.approx(direct)
    # every baseline the file has inputs for; the other task-agnostic one needs the workflow's attribute
    baselines = baseline_scores(tmp_path / "features.h5")
    assert {"LEEP", "NCE", "LogME", "SFDA", "NLEEP", "source_val_acc"} <= set(baselines)
    assert "source_train_images" not in baselines and baselines["source_val_acc"] == 0.5
    # on the probe rows only: the same scores as on those rows' features directly
    from basesel.science.transfer import compute
    on_probe = baseline_scores(tmp_path / "features.h5", ["LogME", "LEEP"], rows=probe_index)
    assert set(on_probe.pop("seconds")) == {"LogME", "LEEP"}  # what each took
    assert on_probe == pytest.approx(compute(["LogME", "LEEP"], feats[probe_index], labels, probs[probe_index]))
    # read from the target's decoded images file instead of its image files: the same arrays, bit for bit
    from basesel.data.images import write_decoded
    assert write_decoded(index.path.tolist(), size, tmp_path / "decoded.h5", budget_mb=100)
    write_featuremap_file(read, probe, tmp_path / "fm2.h5", batch_size=5, device=torch.device("cpu"),
                          decoded=tmp_path / "decoded.h5")
    write_features_file(read, index, tmp_path / "features2.h5", batch_size=5, device=torch.device("cpu"),
                        decoded=tmp_path / "decoded.h5")
    with h5py.File(tmp_path / "fm2.h5") as f:
        np.testing.assert_array_equal(f["featuremaps"][:], fm)
    with h5py.File(tmp_path / "features2.h5") as f:
        np.testing.assert_array_equal(f["features"][:], feats)
        np.testing.assert_array_equal(f["source_probs"][:], probs)


def test_failure_leaves_no_file(tmp_path, target):
    root, index = target
    bad = index.copy()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG truncated")
    bad.loc[bad.index[-1], "path"] = str(broken)
    spec = ArchSpec("resnet18", 0.125, 64, 7)
    out = tmp_path / "features.h5"
    with pytest.raises(BaseselError, match="broken.png"):
        write_features_file(probed(build_model(spec), spec, "m"), bad, out, batch_size=5,
                            device=torch.device("cpu"), preload_max_mb=0)
    assert list(tmp_path.iterdir()) == [broken]


def test_passes_run_in_full_float32_and_restore_the_setting(tmp_path, target):
    """TF32 (cuDNN's default on GPUs that have it) is off while a pass runs, back to what it was
    after, and after a failure too."""
    root, index = target
    spec = ArchSpec("resnet18", 0.125, 64, 7)
    model = build_model(spec)
    seen = []
    model.conv1.register_forward_hook(lambda *_: seen.append(torch.backends.cudnn.allow_tf32))
    before = torch.backends.cudnn.allow_tf32
    write_features_file(probed(model, spec, "m"), index, tmp_path / "f.h5", batch_size=8,
                        device=torch.device("cpu"))
    assert seen and not any(seen) and torch.backends.cudnn.allow_tf32 == before
    torch.backends.cudnn.allow_tf32 = True
    with pytest.raises(RuntimeError, match="inside"):
        with full_float32():
            assert torch.backends.cudnn.allow_tf32 is False
            raise RuntimeError("inside")
    assert torch.backends.cudnn.allow_tf32 is True
    torch.backends.cudnn.allow_tf32 = before
