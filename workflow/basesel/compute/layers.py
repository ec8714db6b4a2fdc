"""The paper's Appendix A.2: selecting the layer to truncate a base model at ("truncate fine-tuning").

In the paper, the network is pruned after conv layer k and "proper pooling and FC layer are added"
to the lower part, which is then fine-tuned on the target; S1..S6 of layer k's featuremaps on the
target's probe set rank the layers (Figure 4: accuracy against k; Figure 5: Spearman rho between
each score and accuracy across k). Conv layers are numbered from 0 as in the paper's Figure 4
(models/archs.py; ResNet18 0..16, 16 being the whole network's last conv layer).

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
from torch import nn

from .. import BaseselError
from ..data.images import image_dataset
from ..data.preprocessing import Preprocess
from ..data.subsets import target_rows
from ..io import atomic_path
from ..models import archs
from ..models.paper import ArchSpec, probed
from ..models.tap import Tap, relu
from ..science.featuremap_scores import ScoreAccumulator
from .finetune import fit_head, load_features, result
from .passes import COMPRESSION, chunk_shape, file_attrs, image_batches
from .schedule import Schedule


def select_layers(arch: str, indices=None) -> list[archs.ConvLayer]:
    """All conv layers of `arch`, or those whose index is in `indices` (an unknown index is an error)."""
    layers = list(archs.get(arch).conv_layers)
    if indices is None:
        return layers
    bad = sorted(set(indices) - {layer.index for layer in layers})
    if bad:
        raise BaseselError(f"{arch} has conv layers 0..{len(layers) - 1}; no layer {', '.join(map(str, bad))}")
    return [layer for layer in layers if layer.index in set(indices)]


def layer_tap(model: nn.Module, layers, sink) -> Tap:
    """The tap on conv layers: each layer's output (after its ReLU where the registry says so)
    handed to `sink(layer index, featuremaps)` as its hook runs, so only one layer's maps are alive."""
    return Tap(model, {layer.index: (layer.tap, relu if layer.relu else None) for layer in layers}, sink=sink)


def _layer_pass(model: nn.Module, spec: ArchSpec, rows: pd.DataFrame, sink, *, batch_size: int, device,
                indices, preload_max_mb: float, workers: int, label: str, dataset=None, decoded=None):
    """One pass over `rows` with every selected layer's maps handed to `sink(k, maps, rows slice)`;
    returns (the layers, {layer: featuremap shape (C, H, W)})."""
    preprocess = Preprocess.of(spec.input_size)
    if dataset is None:
        dataset = image_dataset(rows.path.tolist(), rows.label.to_numpy(), preprocess, preload_max_mb, workers, decoded)
    layers, shapes, current = select_layers(spec.arch, indices), {}, {}

    def grab(k, maps):
        shapes[k] = tuple(maps.shape[1:])
        sink(k, maps, current["rows"])

    model.eval().to(device)
    with layer_tap(model, layers, grab):
        for sl, x, _ in image_batches(dataset, preprocess, batch_size=batch_size, device=device, workers=workers,
                                      label=label):
            current["rows"] = sl
            model(x)
    return layers, shapes


def _meta(layer: archs.ConvLayer, shape) -> dict:
    c, h, w = shape
    return {"layer": layer.index, "conv": layer.conv, "output": layer.output, "channels": c, "height": h, "width": w}


def extract_layer_features(model: nn.Module, spec: ArchSpec, target_index: pd.DataFrame, out_path, *, batch_size: int,
                           device, indices=None, preload_max_mb: float = 2048, workers: int = 0,
                           attrs: dict | None = None, dataset=None, decoded=None) -> None:
    """Every selected conv layer's GAP features of a target's train and test images, in one pass.

    File: feature_labels (M,), feature_split (M,) [0 train, 1 test]; a group `layerNN` per layer with
    dataset `features` (M, C) float32 and attributes layer, conv, output, channels, height, width.
    Memory: the GAP features of every layer (M x the sum of the layers' channels, float32).
    """
    rows, split = target_rows(target_index)
    pooled: dict[int, list[np.ndarray]] = {}
    layers, shapes = _layer_pass(model, spec, rows, lambda k, maps, sl: pooled.setdefault(k, []).append(
        maps.mean(dim=(2, 3)).cpu().numpy()), batch_size=batch_size, device=device, indices=indices,
        preload_max_mb=preload_max_mb, workers=workers, label="[layer features]", dataset=dataset, decoded=decoded)
    with atomic_path(out_path, ".h5") as tmp, h5py.File(tmp, "w", locking=False) as f:
        f["feature_labels"] = rows.label.to_numpy().astype(np.int64)
        f["feature_split"] = split
        for layer in layers:
            feats = np.concatenate(pooled[layer.index]).astype(np.float32)
            g = f.create_group(f"layer{layer.index:02d}")
            g.create_dataset("features", data=feats, chunks=chunk_shape(len(feats), feats.shape[1:]), **COMPRESSION)
            g.attrs.update(_meta(layer, shapes[layer.index]))
        f.attrs.update(file_attrs(probed(model, spec, "layers").attrs, dict.fromkeys(rows.loc[split == 0, "class"]),
                                  layers=[layer.index for layer in layers], **(attrs or {})))


def layer_scores(model: nn.Module, spec: ArchSpec, probe: pd.DataFrame, *, margin: float, batch_size: int, device,
                 indices=None, preload_max_mb: float = 2048, workers: int = 0, dataset=None,
                 decoded=None) -> pd.DataFrame:
    """S1..S6 of every selected conv layer's featuremaps on the probe images (data.subsets.probe_table
    rows), a row per layer. Memory: one ScoreAccumulator per layer (K class means of C*H*W float64
    values each: about 2 GB for full-width ResNet18 at 224 px and 100 classes, mostly the early
    layers); featuremaps are scored as each hook fires and never kept."""
    labels = probe.label.to_numpy()
    accs: dict[int, ScoreAccumulator] = {}

    def score(k, maps, sl):  # called by the hook, while the layer's output is current
        accs.setdefault(k, ScoreAccumulator(margin)).update(maps.cpu().numpy(), labels[sl])

    layers, shapes = _layer_pass(model, spec, probe, score, batch_size=batch_size, device=device, indices=indices,
                                 preload_max_mb=preload_max_mb, workers=workers, label="[layer scores]",
                                 dataset=dataset, decoded=decoded)
    return pd.DataFrame([{**_meta(layer, shapes[layer.index]), **accs[layer.index].result()} for layer in layers])


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
    cheap: they keep no resume file, and their logs live in a temporary folder.
    """
    rows, logs = [], []
    with tempfile.TemporaryDirectory(prefix="basesel-layers-") as tmp:
        for k, (train, test) in read_layer_features(path).items():
            name = f"layer{k:02d}"
            log = fit_head(train, test, schedule, seed=seed, resume_path=None,
                           log_path=Path(tmp) / f"{name}.tsv", device=device, label=f"{label} layer {k}",
                           params={"mode": "truncate-head", "layer": k, "input": str(path)})
            logs.append(log.assign(layer=k))
            rows.append({"layer": k, **result(log, "truncate-head", len(train[1]), len(test[1]))})
    log = pd.concat(logs, ignore_index=True)
    return pd.DataFrame(rows).drop(columns="mode"), log[["layer", *[c for c in log.columns if c != "layer"]]]
