"""The models users already have, as base models: torchvision's and timm's CNNs and ViTs from local
weights or snapshot folders (zoo_specs.py says what an entry names), and the workflow's own
checkpoints, each read through the one seam of tap.py (`Probed.reading()`).

Where the scores look, per family (docs/metrics.md, "Models beyond the paper's three"):
- the paper's three (a basesel checkpoint): archs.py's probed layer;
- timm CNNs: `forward_features`, the last stage's output before global pooling; timm ViTs (and any
  timm model whose features are tokens or NHWC): the last block's patch tokens as a (D, h, w) grid,
  prefix tokens dropped, before the final norm (`forward_intermediates(output_fmt="NCHW")`);
  penultimate features `forward_head(pre_logits=True)`, logits `forward_head` (none for a headless model);
- torchvision CNNs: the last convolutional block (layer4, trunk_output, conv5, inception5b, Mixed_7c,
  or the last non-pooling module of `features` / `layers`); torchvision ViTs: the last encoder
  layer's tokens as a grid; the last linear layer's input and the model's output.

Weights are read without pickle (safetensors, or torch's weights_only loader) and must fit the
architecture exactly (strict); a model's preprocessing is its own data config where it has one
(a snapshot's pretrained_cfg, a checkpoint's input size), else the entry's, else timm's registry
data config of the architecture, else ImageNet statistics and a square resize at 224 px. Nothing reaches the network:
timm is imported with the Hugging Face Hub offline.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from .. import BaseselError
from ..data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from .paper import load_probed
from .tap import Captured, Hooked, Probed, relu, tokens_to_grid
from .zoo_specs import ZooEntry, from_command_line, snapshot_architecture

POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Dropout, nn.Identity)
CARD_FORMAT = "basesel-zoo-model-1"


def timm_module():
    """timm, imported with the Hub offline: nothing is downloaded at run time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import timm

    return timm


# --- weights ---------------------------------------------------------------------------------------

def read_weights(path) -> dict:
    """A state dict from a .safetensors file, or from a torch file read with weights_only (a pickled
    model, or any pickle that runs code, is refused)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            raise BaseselError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BaseselError(f"{path}: not loadable as a plain state dict with weights_only=True (a pickled model or "
                           f"other objects are refused for safety; save model.state_dict(), or a .safetensors "
                           f"file): {type(exc).__name__}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BaseselError(f"{path}: not a plain state dict (a mapping of parameter names to tensors)")
    return state


def fit_weights(model: nn.Module, state: dict, path, arch: str) -> None:
    """Load `state` into `model` exactly; else an error naming the first mismatched keys and shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        def first(items):
            return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")
        parts = [f"missing {first(missing)}" if missing else "", f"unexpected {first(unexpected)}" if unexpected else "",
                 f"shapes differ: {first(shapes)}" if shapes else ""]
        raise BaseselError(f"{path}: weights do not fit {arch}: " + "; ".join(p for p in parts if p))
    model.load_state_dict(state, strict=True)


def _unknown(kind: str, name: str, names) -> BaseselError:
    close = difflib.get_close_matches(name, list(names), n=5, cutoff=0.6)
    hint = f"; the closest names: {', '.join(close)}" if close else ""
    return BaseselError(f"unknown {kind} architecture {name!r}{hint}")


# --- timm --------------------------------------------------------------------------------------------

class TimmModel(Probed):
    """A timm model read through timm's feature API (no hooks)."""

    def __init__(self, name, model, preprocess, layer: str, tokens: bool, attrs: dict):
        super().__init__(name, model, preprocess, layer, attrs)
        self.tokens = tokens
        self.has_head = getattr(model, "num_classes", 0) > 0

    @contextmanager
    def reading(self):
        def read(x: torch.Tensor) -> Captured:
            if self.tokens:  # patch tokens as a grid, before the final norm; `final` after it
                final, maps = self.model.forward_intermediates(x, indices=1, output_fmt="NCHW", intermediates_only=False)
                fm = maps[-1]
            else:
                final = fm = self.model.forward_features(x)
            pen = self.model.forward_head(final, pre_logits=True).reshape(len(x), -1)
            logits = self.model.forward_head(final).reshape(len(x), -1) if self.has_head else None
            return Captured(fm.detach().float(), pen.detach(), None if logits is None else logits.detach())
        yield read

    def new_head(self, num_classes: int) -> nn.Module:
        self.model.reset_classifier(num_classes)
        self.has_head = True
        return self.model.get_classifier()


def _timm_build(entry: ZooEntry) -> tuple[nn.Module, dict | None, dict]:
    """(the timm model with the entry's weights, its own data config: a snapshot's, or None for a
    bare weights file, and timm's registry data config of the architecture, the fallback)."""
    timm = timm_module()
    if entry.snapshot:  # timm reads the architecture, its arguments and its data config from config.json
        name, arch = f"local-dir:{entry.snapshot}", snapshot_architecture(entry.snapshot)[0]
    else:
        name = arch = entry.model_name
    if not timm.is_model(arch):
        raise _unknown("timm", arch, timm.list_models())
    state = read_weights(entry.weights)
    try:
        model = timm.create_model(name, pretrained=False)
        classifier = model.pretrained_cfg.get("classifier")
        classifier = classifier[0] if isinstance(classifier, (list, tuple)) else classifier
        rows = state.get(f"{classifier}.weight") if classifier else None
        if classifier and rows is None and not any(k.startswith(f"{classifier}.") for k in state):
            model = timm.create_model(name, pretrained=False, num_classes=0)  # headless weights
        elif rows is not None and rows.ndim == 2 and rows.shape[0] != model.num_classes:
            model = timm.create_model(name, pretrained=False, num_classes=int(rows.shape[0]))
    except (RuntimeError, ValueError, TypeError, AssertionError) as exc:
        raise BaseselError(f"{entry.name}: timm cannot build {arch}: {exc}") from None
    fit_weights(model, state, entry.weights, entry.arch)
    config = dict(timm.data.resolve_model_data_config(model))
    return model, (config if entry.snapshot else None), config


def _timm_model(entry: ZooEntry, preprocess: Preprocess, model: nn.Module, attrs: dict) -> TimmModel:
    tokens = getattr(model, "output_fmt", "NCHW") != "NCHW" or hasattr(model, "num_prefix_tokens")
    info = getattr(model, "feature_info", None)
    last = info[-1]["module"] if info else "the last stage"
    layer = f"{last} tokens as a grid (forward_intermediates)" if tokens else "forward_features"
    return TimmModel(entry.name, model, preprocess, layer, tokens, attrs)


# --- torchvision -------------------------------------------------------------------------------------

def last_conv_block(model: nn.Module) -> tuple[str, bool]:
    """(name, apply a ReLU after it) of the last convolutional block of a torchvision CNN."""
    if hasattr(model, "layer4"):  # ResNet, ResNeXt, Wide ResNet
        return "layer4", False
    for attr in ("trunk_output", "conv5", "inception5b", "Mixed_7c"):  # RegNet, ShuffleNet, GoogLeNet, Inception
        if hasattr(model, attr):
            return attr, False
    for attr in ("features", "layers"):  # AlexNet, VGG, MobileNet, EfficientNet, SqueezeNet, DenseNet, ConvNeXt, MNASNet
        seq = getattr(model, attr, None)
        if isinstance(seq, nn.Sequential):
            if type(model).__name__ == "DenseNet":  # its last ReLU is applied in forward(), after `features`
                return attr, True
            for i in range(len(seq) - 1, -1, -1):
                if not isinstance(seq[i], POOLING):
                    return f"{attr}.{i}", False
    raise BaseselError(f"{type(model).__name__}: no recognisable last conv block (looked for layer4, features, layers, ...)")


def last_linear(model: nn.Module) -> str | None:
    """The name of the last nn.Linear of a model (its classifier head), or None (SqueezeNet has none)."""
    names = [k for k, m in model.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


# DenseNet checkpoints of torchvision's download page keep the old module names 'norm.1', 'conv.2',
# ...; torchvision renames them as it loads its own weights (models/densenet.py), and so do we.
_DENSENET_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def torchvision_state(name: str, state: dict) -> dict:
    """A torchvision checkpoint's state dict under the names today's torchvision model has."""
    if name.startswith("densenet"):
        return {(m.group(1) + m.group(2) if (m := _DENSENET_OLD_KEY.match(k)) else k): v for k, v in state.items()}
    return state


def _torchvision_build(entry: ZooEntry) -> nn.Module:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if entry.model_name not in names:
        raise _unknown("torchvision", entry.model_name, names)
    state = torchvision_state(entry.model_name, read_weights(entry.weights))
    # GoogLeNet and Inception-v3 as torchvision builds them for its ImageNet weights: their input
    # re-normalised inside the model, the auxiliary heads present (the checkpoints hold them)
    kwargs = {"transform_input": True, "aux_logits": True, "init_weights": False} \
        if entry.model_name in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(entry.model_name, weights=None, **kwargs)
    head = last_linear(model)
    rows = state.get(f"{head}.weight") if head else None
    if rows is not None and rows.ndim == 2 and rows.shape[0] != model.get_submodule(head).out_features:
        # a fine-tuned head may have any number of classes
        model = torchvision.models.get_model(entry.model_name, weights=None, num_classes=int(rows.shape[0]), **kwargs)
    fit_weights(model, state, entry.weights, entry.arch)
    return model


def _torchvision_model(entry: ZooEntry, preprocess: Preprocess, model: nn.Module, attrs: dict) -> Hooked:
    kind = type(model).__name__
    if kind == "VisionTransformer":  # the last encoder layer's tokens, the class token dropped
        layer = f"encoder.layers.{list(dict(model.encoder.layers.named_children()))[-1]}"
        transform = tokens_to_grid(1)
    elif kind == "SwinTransformer":  # features are NHWC
        layer, transform = f"features.{len(model.features) - 1}", lambda x: x.permute(0, 3, 1, 2)
    else:
        layer, after_relu = last_conv_block(model)
        transform = relu if after_relu else None
    return Hooked(entry.name, model, preprocess, layer, last_linear(model), transform, attrs=attrs)


# --- any entry ---------------------------------------------------------------------------------------

def _data_config(name: str, config: dict | None) -> dict:
    """A timm-style data config (input_size (3, H, W), interpolation, crop_pct, crop_mode, mean, std)
    as Preprocess keys."""
    mapped = {}
    if config:
        own = config
        size = own.get("input_size")
        if size is not None:
            h, w = size[-2:] if isinstance(size, (list, tuple)) else (size, size)
            if h != w:
                raise BaseselError(f"{name}: the model's data config asks for {h}x{w} px; only square inputs "
                                   f"are supported")
            mapped["input_size"] = int(h)
        modes = {"center": "crop", "squash": "square"}
        if own.get("crop_mode") is not None:
            if own["crop_mode"] not in modes:
                raise BaseselError(f"{name}: crop mode {own['crop_mode']!r} of the model's data config is not "
                                   f"supported (center or squash)")
            mapped["resize"] = modes[own["crop_mode"]]
        for key in ("interpolation", "crop_pct", "mean", "std", "resize"):
            if own.get(key) is not None:
                mapped[key] = tuple(own[key]) if isinstance(own[key], (list, tuple)) else own[key]
    return mapped


def resolve_preprocess(entry: ZooEntry, own: dict | None, defaults: dict | None = None,
                       fallback: dict | None = None) -> Preprocess:
    """How the model is fed: its own data config (a snapshot's, a checkpoint's input size) first,
    then the entry's keys, then `defaults` (rank's --input-size), then `fallback` (timm's registry
    data config for the architecture, which describes timm's published weights, not yours), then
    ImageNet statistics and a square resize at 224 px. An entry key that contradicts the model's
    own data config is an error."""
    mapped = _data_config(entry.name, own)
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.preprocess.items()}
    clash = [k for k in given if k in mapped and given[k] != mapped[k]]
    if clash:
        k = clash[0]
        raise BaseselError(f"zoo[{entry.name}].preprocess.{k} is {given[k]!r}, but the model's own data config says "
                           f"{mapped[k]!r}: a model's own preprocessing is used (docs/metrics.md); drop the key")
    merged = {"input_size": 224, "resize": "square", "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
              **_data_config(entry.name, fallback), **(defaults or {}), **given, **mapped}
    if merged.get("resize") == "square":
        merged.pop("crop_pct", None)
    return Preprocess(**merged)


def open_entry(entry: ZooEntry, defaults: dict | None = None) -> Probed:
    """A zoo entry as a base model: built, its weights checked and loaded, its preprocessing resolved
    (`defaults`: resolve_preprocess's)."""
    if entry.kind == "basesel":
        try:
            probed, spec, ckpt = load_probed(entry.weights, entry.name)
        except ValueError as exc:
            raise BaseselError(f"zoo[{entry.name}]: {exc}") from None
        own = {"input_size": spec.input_size, "resize": "square", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
        probed.preprocess = resolve_preprocess(entry, own)
        probed.attrs.update(source_val_acc=ckpt.get("val_acc"), source_train_images=ckpt.get("train_images"))
        return probed
    if entry.kind == "timm":
        model, own, fallback = _timm_build(entry)
    else:
        model, own, fallback = _torchvision_build(entry), None, None
    preprocess = resolve_preprocess(entry, own, defaults, fallback)
    head_classes = _head_classes(model)
    attrs = {"arch": entry.arch, "input_size": preprocess.input_size, "num_source_classes": head_classes,
             "preprocess": json.dumps(preprocess.as_dict(), sort_keys=True), "zoo_model": entry.name}
    build = _timm_model if entry.kind == "timm" else _torchvision_model
    return build(entry, preprocess, model.eval(), attrs)


def _head_classes(model: nn.Module) -> int:
    if getattr(model, "num_classes", None) is not None:
        return int(model.num_classes)
    head = last_linear(model)
    return int(model.get_submodule(head).out_features) if head else 0


def check_input(probed: Probed) -> tuple:
    """The probed layer's (C, H, W) for one input at the model's input size, or an error saying the
    input does not go through the model (too small, or not the size a ViT was built for)."""
    size = probed.preprocess.input_size
    x = torch.zeros(1, 3, size, size)
    try:
        with torch.no_grad(), probed.reading() as read:
            cap = read(x)
    except Exception as exc:
        raise BaseselError(f"{probed.name}: an input of {size} px does not go through the model "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                           f"give the input size it was trained at") from None
    if cap.featuremap.ndim != 4 or min(cap.featuremap.shape[2:]) < 1:
        raise BaseselError(f"{probed.name}: layer {probed.layer} gives shape {tuple(cap.featuremap.shape)} at "
                           f"{size} px, not (N, C, H, W)")
    return tuple(cap.featuremap.shape[1:]), int(cap.penultimate.shape[1]), cap.logits is not None


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_card(raw: dict) -> dict:
    """What the workflow records of a zoo model (its config entry `raw`) before any pass reads it
    (results/zoo/NAME.json): the entry, what it resolved to (architecture, weights file, the
    preprocessing), the layer probed and its shape, the weights' digest."""
    from .zoo_specs import entry as zoo_entry

    entry = zoo_entry(raw)
    probed = open_entry(entry)
    shape, penultimate, head = check_input(probed)
    return {"format": CARD_FORMAT, "entry": entry.as_params(), "arch": entry.arch, "weights": entry.weights,
            "snapshot": entry.snapshot, "preprocess": probed.preprocess.as_dict(),
            "layer": probed.layer, "featuremap_shape": list(shape), "penultimate_dim": penultimate,
            "source_head": head, "source_classes": probed.attrs.get("num_source_classes"),
            "parameters": int(sum(p.numel() for p in probed.model.parameters())),
            "weights_sha256": sha256(entry.weights)}


def open_card(path) -> Probed:
    """The zoo model a card (model_card, written by the zoo_model rule) describes, read as it was checked."""
    card = json.loads(Path(path).read_text())
    if card.get("format") != CARD_FORMAT:
        raise BaseselError(f"{path}: not a basesel zoo model card")
    e = card["entry"]
    entry = ZooEntry(e["name"], card["arch"], card["weights"], card["snapshot"], e.get("preprocess") or {}, raw=e)
    probed = open_entry(entry)
    if probed.preprocess.as_dict() != card["preprocess"]:
        raise BaseselError(f"{path}: the model's preprocessing changed since it was checked; rerun its zoo_model job")
    return probed


def open_base_model(path, name: str | None = None) -> Probed:
    """A workflow base model from its file: a pretrained checkpoint (model.pt) or a zoo card (.json)."""
    if str(path).endswith(".json"):
        return open_card(path)
    probed, _, ckpt = load_probed(path, name)
    # the task-agnostic baselines: properties of the workflow's own base models
    probed.attrs.update(source_val_acc=ckpt["val_acc"], source_train_images=ckpt["train_images"])
    return probed


def load_candidates(spec: str, input_size: int | None = None) -> list[Probed]:
    """rank's `--model SPEC` as base models: a zoo spec or zoo file (zoo_specs.from_command_line), or
    a basesel checkpoint. `input_size` is the input of candidates whose weights say nothing of it."""
    entries = from_command_line(spec)
    if entries is None:
        path = Path(spec)
        if not path.exists():
            raise BaseselError(f"--model {spec}: no such file (give a basesel checkpoint, KIND:ARCH=WEIGHTS, a "
                               f"snapshot folder or a zoo file)")
        try:
            probed, _, _ = load_probed(path, path.parent.name if path.name == "model.pt" else path.stem)
        except ValueError as exc:
            raise BaseselError(f"--model {spec}: {exc}; for torchvision or timm weights write "
                               f"torchvision:ARCH={spec} or timm:ARCH={spec}") from None
        return [probed]
    defaults = {"input_size": input_size} if input_size else None
    return [open_entry(entry, defaults) for entry in entries]
