"""The models users already have, as base models: a basesel checkpoint (from the workflow), or
`ARCH=WEIGHTS` with any torchvision classification CNN and a local state-dict file (never loaded
as a full pickle), each read through the one tap (tap.py).

The layer scored is the last convolutional block's output, before global pooling: for the paper's
three architectures the probed layer of archs.py; for other torchvision families the block that
plays that role (layer4, trunk_output, conv5, inception5b, Mixed_7c, or the last non-pooling module
of `features` / `layers`).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .. import BaseselError
from ..data.preprocessing import Preprocess
from .paper import load_probed
from .tap import Hooked, Probed, relu

POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Dropout, nn.Identity)


def last_conv_block(model: nn.Module) -> tuple[str, nn.Module, bool]:
    """(name, module, apply a ReLU after it) of the last convolutional block of a torchvision CNN."""
    if hasattr(model, "layer4"):  # ResNet, ResNeXt, Wide ResNet
        return "layer4", model.layer4, False
    for attr in ("trunk_output", "conv5", "inception5b", "Mixed_7c"):  # RegNet, ShuffleNet, GoogLeNet, Inception
        if hasattr(model, attr):
            return attr, getattr(model, attr), False
    for attr in ("features", "layers"):  # AlexNet, VGG, MobileNet, EfficientNet, SqueezeNet, DenseNet, ConvNeXt, MNASNet
        seq = getattr(model, attr, None)
        if isinstance(seq, nn.Sequential):
            for i in range(len(seq) - 1, -1, -1):
                if not isinstance(seq[i], POOLING):
                    dense = type(model).__name__ == "DenseNet"
                    return (attr if dense else f"{attr}.{i}"), (seq if dense else seq[i]), dense
    raise BaseselError(f"{type(model).__name__}: no recognisable last conv block (looked for layer4, features, layers, ...)")


def last_linear(model: nn.Module) -> nn.Linear | None:
    """The last nn.Linear of a model (its classifier head), or None (SqueezeNet has none)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def load_candidate(spec: str, input_size: int | None) -> Probed:
    """`path.pt` (a basesel checkpoint) or `arch=weights.pth` (torchvision architecture + state dict)."""
    if "=" in spec:
        arch, path = spec.split("=", 1)
        return _torchvision_candidate(arch, path, input_size or 224)
    path = Path(spec)
    if not path.exists():
        raise BaseselError(f"--model {spec}: no such file (give a basesel checkpoint or ARCH=WEIGHTS)")
    try:
        probed, arch_spec, _ = load_probed(path, path.parent.name if path.name == "model.pt" else path.stem)
    except ValueError as exc:
        raise BaseselError(f"--model {spec}: {exc}; for torchvision weights write ARCH={spec}") from None
    if input_size:
        probed.preprocess = Preprocess.of(input_size)
    return probed


def _torchvision_candidate(arch: str, path: str, input_size: int) -> Probed:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if arch not in names:
        raise BaseselError(f"unknown torchvision architecture {arch!r}; classification models are: {', '.join(sorted(names))}")
    if not Path(path).exists():
        raise BaseselError(f"--model {arch}={path}: no such weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BaseselError(f"{path}: not loadable as a plain state dict with weights_only=True "
                           f"(a pickled model or other objects are refused for safety): {type(exc).__name__}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BaseselError(f"{path}: not a plain state dict (a mapping of parameter names to tensors)")
    model = torchvision.models.get_model(arch, weights=None)
    head = last_linear(model)
    if head is not None:  # a fine-tuned head may have any number of classes
        key = next((k for k, m in model.named_modules() if m is head), None)
        w = state.get(f"{key}.weight")
        if w is not None and w.ndim == 2 and w.shape[0] != head.out_features:
            model = torchvision.models.get_model(arch, weights=None, num_classes=int(w.shape[0]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise BaseselError(f"{path}: weights do not match {arch}: {' '.join(s.strip() for s in first)}") from None
    name, _, relu_after = last_conv_block(model)
    head = last_linear(model)
    head_name = next((k for k, m in model.named_modules() if m is head), None) if head is not None else None
    return Hooked(f"{arch}:{Path(path).stem}", model, Preprocess.of(input_size), name, head_name,
                  relu if relu_after else None)
