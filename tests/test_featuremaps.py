"""Featuremap files: the values the model produces, in one pass, and nothing left behind on failure."""
import h5py
import numpy as np
import pytest
import torch

from basesel import synthetic
from basesel.data import index_dataset, load_image, normalise
from basesel.featuremaps import extract
from basesel.io import BaseselError
from basesel.models import ArchSpec, FeatureTap, build_model
from basesel.scores import paper_scores, scores_from_h5


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
    out = tmp_path / "fm.h5"
    extract(model, spec, index, out, probe_per_class=4, probe_seed=0, batch_size=5, device=torch.device("cpu"),
            attrs={"subset": "x"}, progress=False)
    with h5py.File(out) as f:
        fm, labels, probe = f["featuremaps"][:], f["labels"][:], f["probe_index"][:]
        feats, flabels, split, probs = f["features"][:], f["feature_labels"][:], f["feature_split"][:], f["source_probs"][:]
        attrs = dict(f.attrs)
        assert f["featuremaps"].compression == "lzf" and f["featuremaps"].chunks is not None
    train = index[index.split == "train"].reset_index(drop=True)
    assert len(probe) == 12 and np.bincount(labels).tolist() == [4, 4, 4]
    assert (split == 0).sum() == 18 and (split == 1).sum() == 9
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    assert attrs["arch"] == arch and attrs["layer"] in ("layer4", "features.11") and attrs["subset"] == "x"
    # The direct way: one image at a time through the hooks.
    x = torch.stack([load_image(p, size) for p in train.path.iloc[probe]])
    with FeatureTap(model, arch) as tap, torch.no_grad():
        model(normalise(x))
    np.testing.assert_allclose(fm, tap.featuremap.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats[probe], tap.penultimate.numpy(), rtol=1e-5, atol=1e-6)
    assert (flabels[probe] == labels).all()
    from_file = scores_from_h5(out)
    direct = paper_scores(tap.featuremap.numpy().astype(np.float64), labels)
    assert {k: from_file[k] for k in direct} == pytest.approx(direct)
    # every baseline the file has inputs for; the agnostic ones need the workflow's attributes
    assert {"LEEP", "NCE", "LogME", "SFDA", "NLEEP"} <= set(from_file) and "source_val_acc" not in from_file


def test_failure_leaves_no_file(tmp_path, target):
    root, index = target
    bad = index.copy()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG truncated")
    bad.loc[bad.index[-1], "path"] = str(broken)
    spec = ArchSpec("resnet18", 0.125, 64, 7)
    out = tmp_path / "fm.h5"
    with pytest.raises(BaseselError, match="broken.png"):
        extract(build_model(spec), spec, bad, out, probe_per_class=4, probe_seed=0, batch_size=5,
                device=torch.device("cpu"), preload_max_mb=0, progress=False)
    assert list(tmp_path.iterdir()) == [broken]
