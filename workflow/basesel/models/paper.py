"""The paper's three architectures, built from torchvision's own classes, and their checkpoints.

A width multiplier scales every channel count (and AlexNet/VGG's hidden FC width); at width 1.0 the
model is exactly torchvision's. The module names torchvision uses (`features`, `classifier`,
`layer4`, `fc`) are the contract that the tap and head replacement rely on; which module is the
probed layer, the head or conv layer k, and each network's channel counts, are written once, in
archs.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import BasicBlock

from ..data.preprocessing import Preprocess
from . import archs
from .tap import Hooked


@dataclass(frozen=True)
class ArchSpec:
    """What is needed to rebuild a model: recorded in every checkpoint and HDF5 file."""

    arch: str
    width: float
    input_size: int
    num_classes: int


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def _alexnet(num_classes: int, width: float) -> nn.Module:
    model = tvm.AlexNet(num_classes=num_classes)
    if width == 1.0:
        return model
    hidden = _scaled(4096, width)
    # Same layer indices as torchvision's AlexNet.features (archs.ALEXNET_CFG: conv5's ReLU is
    # features.11): an 11x11 stride-4 conv, a 5x5 conv, then 3x3 convs.
    kernels = [dict(kernel_size=11, stride=4, padding=2), dict(kernel_size=5, padding=2)]
    layers, channels = [], 3
    for v in archs.ALEXNET_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            continue
        out = _scaled(v, width)
        conv = kernels.pop(0) if kernels else dict(kernel_size=3, padding=1)
        layers += [nn.Conv2d(channels, out, **conv), nn.ReLU(inplace=True)]
        channels = out
    model.features = nn.Sequential(*layers)
    model.classifier = nn.Sequential(
        nn.Dropout(p=0.5),
        nn.Linear(channels * 6 * 6, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )
    return model


def _vgg16(num_classes: int, width: float) -> nn.Module:
    cfg = [v if v == "M" else _scaled(v, width) for v in archs.VGG16_CFG]
    model = tvm.vgg.VGG(tvm.vgg.make_layers(cfg, batch_norm=False), num_classes=num_classes)
    if width == 1.0:
        return model
    last = cfg[-2]
    hidden = _scaled(4096, width)
    model.classifier = nn.Sequential(
        nn.Linear(last * 7 * 7, hidden),
        nn.ReLU(True),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, hidden),
        nn.ReLU(True),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, num_classes),
    )
    for m in model.classifier:
        if isinstance(m, nn.Linear):  # torchvision's VGG init for linear layers
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)
    return model


def _resnet18(num_classes: int, width: float) -> nn.Module:
    model = tvm.ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    if width == 1.0:
        return model
    # Rebuild the stem and stages with torchvision's own _make_layer at scaled widths.
    model.inplanes = _scaled(64, width)
    model.conv1 = nn.Conv2d(3, model.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(model.inplanes)
    model.layer1 = model._make_layer(BasicBlock, _scaled(64, width), 2)
    model.layer2 = model._make_layer(BasicBlock, _scaled(128, width), 2, stride=2)
    model.layer3 = model._make_layer(BasicBlock, _scaled(256, width), 2, stride=2)
    model.layer4 = model._make_layer(BasicBlock, _scaled(512, width), 2, stride=2)
    model.fc = nn.Linear(_scaled(512, width), num_classes)
    for m in model.modules():  # torchvision's ResNet init
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return model


_BUILDERS = {"alexnet": _alexnet, "vgg16": _vgg16, "resnet18": _resnet18}


def build_model(spec: ArchSpec) -> nn.Module:
    """Build an untrained model for `spec`; raises ValueError naming a bad field."""
    need = archs.get(spec.arch).min_input_size
    if not spec.width > 0:
        raise ValueError(f"width must be > 0, got {spec.width}")
    if spec.input_size < need:
        raise ValueError(f"{spec.arch} needs input_size >= {need} px, got {spec.input_size}")
    if spec.num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {spec.num_classes}")
    return _BUILDERS[spec.arch](spec.num_classes, float(spec.width))


def module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name` (e.g. features.11, layer4.1, classifier.6)."""
    return model.get_submodule(name)


def probe_layer(model: nn.Module, arch: str) -> tuple[str, nn.Module]:
    """The paper's "last conv layer" (archs.Architecture.probe): after its ReLU, before any pooling."""
    tap = archs.get(arch).probe.tap
    return tap, module(model, tap)


def head(model: nn.Module, arch: str) -> nn.Linear:
    """The last FC layer, the one fine-tuning replaces."""
    return module(model, archs.get(arch).head)


def penultimate_dim(model: nn.Module, arch: str) -> int:
    """Width of the head's input, the penultimate features."""
    return head(model, arch).in_features


def checkpoint_dict(model: nn.Module, spec: ArchSpec, **extra) -> dict:
    """A checkpoint of plain types and tensors only, so that weights_only=True loads it."""
    return {
        "format": "basesel-checkpoint-1",
        "arch": spec.arch,
        "width": float(spec.width),
        "input_size": int(spec.input_size),
        "num_classes": int(spec.num_classes),
        # contiguous whatever layout the model trained in, so every reader sees the same tensors
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        **extra,
    }


def load_checkpoint(path: str, map_location="cpu") -> tuple[nn.Module, ArchSpec, dict]:
    """Load a basesel checkpoint safely (never full pickle) and rebuild its model.

    The model is built on the meta device, where initialisation draws nothing and costs nothing
    (a VGG16 classifier's random init takes a second), and then takes the checkpoint's tensors.
    """
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a pickle with code objects, a truncated file, not a torch file
        raise ValueError(f"{path}: not a loadable basesel checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != "basesel-checkpoint-1":
        raise ValueError(f"{path}: not a basesel checkpoint (missing format tag)")
    spec = ArchSpec(ckpt["arch"], ckpt["width"], ckpt["input_size"], ckpt["num_classes"])
    with torch.device("meta"):
        model = build_model(spec)
    model.load_state_dict(ckpt["state_dict"], assign=True)
    return model, spec, ckpt


def probed(model: nn.Module, spec: ArchSpec, name: str) -> Hooked:
    """A model of this registry as the passes read it: its probed layer, its head's input, its
    logits, and the paper's square resize to its input size."""
    arch = archs.get(spec.arch)
    attrs = {"arch": spec.arch, "width": spec.width, "input_size": spec.input_size, "num_source_classes": spec.num_classes}
    return Hooked(name, model, Preprocess.of(spec.input_size), arch.probe.tap, arch.head, attrs=attrs)


def load_probed(path, name: str | None = None) -> tuple[Hooked, ArchSpec, dict]:
    """load_checkpoint, then `probed`: (the model as read, in eval mode as every family is read, its
    spec, the checkpoint's other fields)."""
    model, spec, ckpt = load_checkpoint(path)
    return probed(model.eval(), spec, name or str(path)), spec, ckpt
