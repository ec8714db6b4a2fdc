"""Architectures: torchvision's own at width 1.0, probe layers where the spec puts them, safe checkpoints."""
import pickle

import pytest
import torch
from torchvision import models as tvm

from basesel.models.paper import (
    ArchSpec,
    build_model,
    checkpoint_dict,
    load_checkpoint,
    penultimate_dim,
    probed,
)
from helpers import direct_forward


@pytest.mark.parametrize("arch,reference", [("alexnet", tvm.alexnet), ("vgg16", tvm.vgg16), ("resnet18", tvm.resnet18)])
def test_width_multiplier_rebuild_is_torchvision(arch, reference):
    """The rebuild that every embedded run's narrow networks go through, at a width that scales no
    channel count (1 + 1e-9; width 1.0 itself returns torchvision's model unchanged): torchvision's
    network layer for layer. The same parameter names and shapes, and, with torchvision's weights
    loaded into it, the same outputs (a kernel, stride or padding of its own would differ)."""
    rebuilt = build_model(ArchSpec(arch, 1 + 1e-9, 224, 1000)).eval()
    theirs = reference(weights=None).eval()
    assert rebuilt is not theirs and type(rebuilt) is type(theirs)
    ours, reference_weights = rebuilt.state_dict(), theirs.state_dict()
    assert list(ours) == list(reference_weights)
    assert all(ours[k].shape == reference_weights[k].shape for k in ours)
    rebuilt.load_state_dict(reference_weights)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(rebuilt(x), theirs(x))
    assert build_model(ArchSpec(arch, 1.0, 224, 1000)).state_dict().keys() == reference_weights.keys()


@pytest.mark.parametrize("arch,size,shape,dim", [
    ("alexnet", 224, (256, 13, 13), 4096), ("resnet18", 224, (512, 7, 7), 512),
    ("alexnet", 64, (64, 3, 3), 1024), ("vgg16", 32, (64, 2, 2), 512), ("resnet18", 64, (128, 2, 2), 128),
])
def test_probe_layer_shapes(arch, size, shape, dim):
    width = 1.0 if size == 224 else {"alexnet": 0.25, "vgg16": 0.125, "resnet18": 0.25}[arch]
    spec = ArchSpec(arch, width, size, 10)
    model = build_model(spec).eval()
    x = torch.randn(2, 3, size, size)
    with probed(model, spec, "m").reading() as read, torch.no_grad():
        cap = read(x)
    assert tuple(cap.featuremap.shape) == (2, *shape)
    assert cap.featuremap.min() >= 0  # after the ReLU
    assert cap.penultimate.shape == (2, dim) == (2, penultimate_dim(model, arch))
    # the tap reads what running the modules by hand gives
    fm, pen = direct_forward(model, arch, x)
    assert torch.equal(cap.featuremap, fm) and torch.equal(cap.penultimate, pen)
    assert torch.equal(cap.logits, model(x))


def test_vgg16_probe_layer_full_width():
    model = build_model(ArchSpec("vgg16", 1.0, 224, 10)).eval()
    assert isinstance(model.features[29], torch.nn.ReLU) and isinstance(model.features[28], torch.nn.Conv2d)


def test_bad_specs():
    with pytest.raises(ValueError, match="at least|>= 63"):
        build_model(ArchSpec("alexnet", 0.25, 48, 10))
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model(ArchSpec("lenet", 1.0, 224, 10))


def test_checkpoint_roundtrip_and_unsafe_pickle_refused(tmp_path):
    spec = ArchSpec("resnet18", 0.125, 64, 5)
    torch.manual_seed(0)
    model = build_model(spec)
    torch.save(checkpoint_dict(model, spec, subset="cw2-0"), tmp_path / "m.pt")
    loaded, spec2, ckpt = load_checkpoint(tmp_path / "m.pt")
    assert spec2 == spec and ckpt["subset"] == "cw2-0"
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model.eval()(x), loaded.eval()(x))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"format": "basesel-checkpoint-1", "x": Evil()}, fh)
    with pytest.raises(ValueError, match="not a loadable basesel checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"state_dict": {}}, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="format tag"):
        load_checkpoint(tmp_path / "plain.pt")


def test_new_head_replaces_the_registrys_head():
    spec = ArchSpec("alexnet", 0.25, 64, 7)
    model = build_model(spec)
    head = probed(model, spec, "m").new_head(3)
    assert model.classifier[6] is head and head.out_features == 3
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3)
