"""The paper's Appendix A.2: selecting the layer to truncate a base model at ("truncate fine-tuning").

In the paper, the network is pruned after conv layer k and "proper pooling and FC layer are added"
to the lower part, which is then fine-tuned on the target; S1..S6 of layer k's featuremaps on the
target's probe set rank the layers (Figure 4: accuracy against k; Figure 5: Spearman rho between
each score and accuracy across k). Conv layers are numbered from 0 as in the paper's Figure 4
(archs.py; ResNet18 0..16, 16 being the whole network's last conv layer).

How it is done here, per (architecture, target):
- `extract_layer_features`: one forward pass over the target's train and test images with hooks on
  every conv layer; each layer's globally average-pooled (GAP) output is written to one file.
- `layer_scores`: one forward pass over the probe images; each layer's S1..S6, scored as its hook
  fires (only one layer's featuremaps are alive at a time).
- `truncate_finetune`: the added pooling is GAP, the added FC layer is trained on the pooled
  features with the fine-tuning schedule (finetune.fit_head), with the truncated backbone frozen:
  the paper's protocol for fine-tuning (section 1: replace the FC layer, freeze the rest) applied to
  the truncated network. The paper's appendix does not say whether the truncated layers are frozen.
The last layer's scores equal the main workflow's on the same model (its probed layer).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
from torch import nn

from . import archs as A
from .data import target_rows
from .featuremaps import CHUNK_BYTES, COMPRESSION, file_attrs, forward_pass
from .finetune import fit_head, load_features, result
from .io import BaseselError, atomic_path
from .models import ArchSpec
from .schedule import Schedule
from .scores import ScoreAccumulator

def select_layers(arch: str, indices=None) -> list[A.ConvLayer]:
    """All conv layers of `arch`, or those whose index is in `indices` (an unknown index is an error)."""
    layers = list(A.get(arch).conv_layers)
    if indices is None:
        return layers
    bad = sorted(set(indices) - {layer.index for layer in layers})
    if bad:
        raise BaseselError(f"{arch} has conv layers 0..{len(layers) - 1}; no layer {', '.join(map(str, bad))}")
    return [layer for layer in layers if layer.index in set(indices)]


class LayerTap:
    """Forward hooks on several conv layers. Per forward pass: each layer's GAP features
    (`pooled[k]`, (B, C)), its featuremap shape (`shapes[k]`, (C, H, W)) and its featuremaps:
    stored in `maps[k]` ((B, C, H, W), copied so that no later in-place op can change them), or,
    when `sink` is given, handed to `sink(k, maps)` as the hook runs, so that only one layer's maps
    are alive at a time; with `maps=False` and no sink, none."""

    def __init__(self, model: nn.Module, arch: str, indices=None, maps: bool = True, sink=None):
        self.layers = select_layers(arch, indices)
        self.want_maps, self.sink = maps, sink
        self.pooled: dict[int, torch.Tensor] = {}
        self.maps: dict[int, torch.Tensor] = {}
        self.shapes: dict[int, tuple] = {}
        self._handles = [model.get_submodule(layer.tap).register_forward_hook(self._grab(layer)) for layer in self.layers]

    def _grab(self, layer: A.ConvLayer):
        def hook(module, inputs, output):
            out = (torch.relu(output) if layer.relu else output).detach()
            k = layer.index
            self.pooled[k] = out.float().mean(dim=(2, 3))
            self.shapes[k] = tuple(out.shape[1:])
            if self.sink is not None:
                self.sink(k, out.float())
            elif self.want_maps:
                self.maps[k] = out.float().clone()
        return hook

    def close(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _meta(layer: A.ConvLayer, shape) -> dict:
    c, h, w = shape
    return {"layer": layer.index, "conv": layer.conv, "output": layer.output, "channels": c, "height": h, "width": w}


def extract_layer_features(model: nn.Module, spec: ArchSpec, target_index: pd.DataFrame, out_path, *, batch_size: int,
                           device, indices=None, preload_max_mb: float = 2048, workers: int = 0,
                           attrs: dict | None = None, dataset=None) -> None:
    """Every selected conv layer's GAP features of a target's train and test images, in one pass.

    File: feature_labels (M,), feature_split (M,) [0 train, 1 test]; a group `layerNN` per layer with
    dataset `features` (M, C) float32 and attributes layer, conv, output, channels, height, width.
    Memory: the GAP features of every layer (M x the sum of the layers' channels, float32).
    """
    rows, split = target_rows(target_index)
    pooled: dict[int, list[np.ndarray]] = {}
    with LayerTap(model, spec.arch, indices, maps=False) as tap:
        for _, _ in forward_pass(model, spec, rows, batch_size=batch_size, device=device, preload_max_mb=preload_max_mb,
                                 workers=workers, label="[layer features]", dataset=dataset):
            for layer in tap.layers:
                pooled.setdefault(layer.index, []).append(tap.pooled[layer.index].cpu().numpy())
        layers, shapes = tap.layers, dict(tap.shapes)
    with atomic_path(out_path, ".h5") as tmp, h5py.File(tmp, "w", locking=False) as f:
        f["feature_labels"] = rows.label.to_numpy().astype(np.int64)
        f["feature_split"] = split
        for layer in layers:
            feats = np.concatenate(pooled[layer.index]).astype(np.float32)
            c = feats.shape[1]
            g = f.create_group(f"layer{layer.index:02d}")
            g.create_dataset("features", data=feats, chunks=(max(1, min(len(feats), CHUNK_BYTES // 4 // c)), c),
                             **COMPRESSION)
            g.attrs.update(_meta(layer, shapes[layer.index]))
        f.attrs.update(file_attrs(spec, dict.fromkeys(rows.loc[split == 0, "class"]),
                                  layers=[layer.index for layer in layers], **(attrs or {})))


def layer_scores(model: nn.Module, spec: ArchSpec, probe: pd.DataFrame, *, margin: float, batch_size: int, device,
                 indices=None, preload_max_mb: float = 2048, workers: int = 0, dataset=None) -> pd.DataFrame:
    """S1..S6 of every selected conv layer's featuremaps on the probe images (data.probe_table rows),
    a row per layer. Memory: one scores.ScoreAccumulator per layer (K class means of C*H*W float64
    values each: about 2 GB for full-width ResNet18 at 224 px and 100 classes, mostly the early
    layers); featuremaps are scored as each hook fires and never kept."""
    labels = probe.label.to_numpy()
    accs: dict[int, ScoreAccumulator] = {}
    seen: dict[int, int] = {}  # images each layer has scored: its hook fires once per batch, in order

    def score(k, maps):  # called by the hook, while the layer's output is current
        start = seen.get(k, 0)
        accs[k].update(maps.cpu().numpy(), labels[start:start + len(maps)])
        seen[k] = start + len(maps)

    with LayerTap(model, spec.arch, indices, sink=score) as tap:
        accs.update({layer.index: ScoreAccumulator(margin) for layer in tap.layers})
        for _ in forward_pass(model, spec, probe, batch_size=batch_size, device=device, preload_max_mb=preload_max_mb,
                              workers=workers, label="[layer scores]", dataset=dataset):
            pass
        return pd.DataFrame([{**_meta(layer, tap.shapes[layer.index]), **accs[layer.index].result()}
                             for layer in tap.layers])


def read_layer_features(path) -> dict[int, tuple]:
    """{layer: ((x_train, y_train), (x_test, y_test))} of a layer features file."""
    with h5py.File(path, "r", locking=False) as f:
        groups = sorted(k for k in f if k.startswith("layer"))
        if not groups:
            raise BaseselError(f"{path}: no layer groups (is it a basesel layer features file?)")
        indices = [int(f[g].attrs["layer"]) for g in groups]
    return {k: load_features(path, g) for k, g in zip(indices, groups)}


def truncate_finetune(path, schedule: Schedule, *, seed: int, device, label: str = "layers") -> tuple[pd.DataFrame, pd.DataFrame]:
    """A new FC layer on every layer of a layer features file (one target).

    Returns (a row per layer with its accuracies, the concatenated per-epoch logs). Fits are
    cheap, so their resume files live in a temporary folder.
    """
    rows, logs = [], []
    with tempfile.TemporaryDirectory(prefix="basesel-layers-") as tmp:
        for k, (train, test) in read_layer_features(path).items():
            name = f"layer{k:02d}"
            log = fit_head(train, test, schedule, seed=seed, resume_path=Path(tmp) / f"{name}.resume.pt",
                           log_path=Path(tmp) / f"{name}.tsv", device=device, label=f"{label} layer {k}",
                           params={"mode": "truncate-head", "layer": k, "input": str(path)})
            logs.append(log.assign(layer=k))
            rows.append({"layer": k, **result(log, "truncate-head", len(train[1]), len(test[1]))})
    log = pd.concat(logs, ignore_index=True)
    return pd.DataFrame(rows).drop(columns="mode"), log[["layer", *[c for c in log.columns if c != "layer"]]]
