"""`basesel rank`: score a user's candidate models on a user's image folder and rank them.

A candidate is a basesel checkpoint (from the workflow), or `ARCH=WEIGHTS` with any torchvision
classification CNN and a local state-dict file. The probe set (`probe_per_class` training images
per class) goes through each model once; hooks take the last conv block's output (S1..S6) and the
classifier's input (LogME). C_56 combines S5 and S6 as the paper does, min-max scaled over the
candidates being ranked, so it needs at least two candidates to mean anything.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .data import index_dataset, normalise, preload, probe_rows
from .io import BaseselError
from .transfer.logme import logme
from .models import load_checkpoint, probe_layer
from .scores import DIRECTION, METRICS, ScoreAccumulator

POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Dropout, nn.Identity)
SCORES = ("C_56", "LogME", *METRICS)


@dataclass
class Candidate:
    name: str
    model: nn.Module
    input_size: int
    layer_name: str
    layer: nn.Module
    relu_after: bool  # DenseNet applies its last ReLU in forward(), after the `features` block


def _last_conv_block(model: nn.Module) -> tuple[str, nn.Module, bool]:
    """The last convolutional block's output, before global pooling, for torchvision's CNN families.

    For the paper's three this is the spec's layer (AlexNet features.11, VGG16 features.29, ResNet18 layer4).
    """
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


def _last_linear(model: nn.Module) -> nn.Linear | None:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def load_candidate(spec: str, input_size: int | None) -> Candidate:
    """`path.pt` (a basesel checkpoint) or `arch=weights.pth` (torchvision architecture + state dict)."""
    if "=" in spec:
        arch, path = spec.split("=", 1)
        return _torchvision_candidate(arch, path, input_size or 224)
    path = Path(spec)
    if not path.exists():
        raise BaseselError(f"--model {spec}: no such file (give a basesel checkpoint or ARCH=WEIGHTS)")
    try:
        model, arch_spec, _ = load_checkpoint(path)
    except ValueError as exc:
        raise BaseselError(f"--model {spec}: {exc}; for torchvision weights write ARCH={spec}") from None
    name, layer, relu = _last_conv_block(model)
    assert name == probe_layer(model, arch_spec.arch)[0]
    return Candidate(path.parent.name if path.name == "model.pt" else path.stem, model,
                     input_size or arch_spec.input_size, name, layer, relu)


def _torchvision_candidate(arch: str, path: str, input_size: int) -> Candidate:
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
    head = _last_linear(model)
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
    name, layer, relu = _last_conv_block(model)
    return Candidate(f"{arch}:{Path(path).stem}", model, input_size, name, layer, relu)


def probe_set(data_dir, probe_per_class: int, seed: int) -> pd.DataFrame:
    """The probe rows of an ImageFolder (or of its train/ split when it has one)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise BaseselError(f"--data {data_dir}: no such folder")
    if (root / "train").is_dir():
        index = index_dataset(root, ("train",), min_per_class={"train": probe_per_class})
    else:
        index = index_dataset(root.parent, (root.name,), min_per_class={root.name: probe_per_class})
        index["split"] = "train"
    train = index.reset_index(drop=True)
    return train.iloc[probe_rows(train, probe_per_class, seed)].reset_index(drop=True)


def score_candidate(cand: Candidate, probe: pd.DataFrame, *, device, batch_size: int, margin: float,
                    progress: bool = True) -> dict:
    model = cand.model.eval().to(device)
    images = preload(probe.path.tolist(), probe.label.to_numpy(), cand.input_size)
    labels = probe.label.to_numpy()
    acc = ScoreAccumulator(margin)
    captured: dict = {}
    hooks = [cand.layer.register_forward_hook(lambda m, i, o: captured.__setitem__("fm", o.detach()))]
    head = _last_linear(model)
    if head is not None:
        hooks.append(head.register_forward_hook(lambda m, i, o: captured.__setitem__("pen", i[0].detach())))
    pens = []
    try:
        with torch.no_grad():
            for start in range(0, len(labels), batch_size):
                x = images.tensors[0][start:start + batch_size].to(device)
                model(normalise(x))
                fm = captured["fm"]
                if cand.relu_after:
                    fm = torch.relu(fm)
                if fm.ndim != 4:
                    raise BaseselError(f"{cand.name}: layer {cand.layer_name} gives shape {tuple(fm.shape)}, not (N, C, H, W)")
                acc.update(fm.float().cpu().numpy(), labels[start:start + batch_size])
                # Without a linear head (SqueezeNet), the pooled featuremap stands in for the penultimate features.
                pen = captured["pen"] if "pen" in captured else fm.mean(dim=(2, 3))
                pens.append(pen.float().cpu().numpy().reshape(len(x), -1))
                if progress:
                    done = min(start + batch_size, len(labels))
                    bar = "#" * int(30 * done / len(labels))
                    print(f"\r  {cand.name:<28} [{bar:<30}] {done}/{len(labels)} images", end="", file=sys.stderr, flush=True)
    finally:
        for h in hooks:
            h.remove()
        if progress:
            print(file=sys.stderr)
    scores = acc.result()
    scores["LogME"] = logme(np.concatenate(pens), labels)
    return scores


def c56(table: pd.DataFrame, alpha: float) -> pd.Series:
    """(1 - alpha) S5' + alpha S6', each min-max scaled to [-1, 1] over the candidates and negated."""
    from .analysis import minmax_signed

    norm = minmax_signed(table, ("S5", "S6"))
    return (1 - alpha) * norm["S5"] + alpha * norm["S6"]


def smaller_is_better(score: str) -> bool:
    return DIRECTION.get(score, 1) < 0


def rank(table: pd.DataFrame, by: str) -> pd.DataFrame:
    ascending = smaller_is_better(by)
    out = table.sort_values(by, ascending=ascending, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def alpha_from_analysis(path) -> float:
    import json

    try:
        summary = json.loads(Path(path).read_text())
        return float(summary["c56"]["best_alpha"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise BaseselError(f"--analysis {path}: no C_56 best alpha in it ({exc})") from None


def figure(table: pd.DataFrame, by: str, path) -> None:
    from .plots import plt, _save

    fig, ax = plt.subplots(figsize=(6, 0.45 * len(table) + 1.2))
    ax.barh(table.model[::-1], table[by][::-1], color="tab:blue")
    ax.set_xlabel(by + (" (smaller is better)" if smaller_is_better(by) else " (larger is better)"))
    ax.set_title(f"candidates ranked by {by}")
    _save(fig, path)
