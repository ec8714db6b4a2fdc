"""The paper's Appendix A.2: selecting the layer to truncate a base model at ("truncate fine-tuning").

For every conv layer index k of an architecture, the network is cut after layer k, global average
pooling and a new FC layer are added, and that layer is fine-tuned on the target; S1..S6 are
computed on layer k's featuremaps of the target's probe set. Figure 4 is accuracy against k per
target, Figure 5 Spearman rho between each score and accuracy across k.

Conv layer indices count the convolutions on the main path, in forward order, from 1:
- AlexNet 1..5 and VGG16 1..13: layer k is the ReLU after the k-th Conv2d of `features`;
- ResNet18 1..17: 1 is the stem (conv1, bn1, ReLU; before the max-pool), then for each of the 8
  BasicBlocks its conv1 (output: relu(bn1(conv1(x))), inside the block) and its conv2 (output: the
  block's output, relu(bn2(conv2(.)) + shortcut)). The 1x1 downsample convolutions of the
  shortcuts are not counted.
The last index is the layer the main workflow probes (models.probe_layer: AlexNet features.11,
VGG16 features.29, ResNet18 layer4), so its scores equal the main workflow's on the same model.

Departure from the paper: the paper fine-tunes the truncated network. Here, as in the workflow's
`head` fine-tuning mode, the truncated backbone is frozen (eval mode: fixed batch-norm statistics,
no dropout, no augmentation), so each layer's GAP features are computed once, in one forward pass
over the target's train and test images with hooks on every layer at once, and only the new FC
layer is trained on them, with the fine-tuning schedule (training.fit). With a frozen backbone this
is the same optimisation as training the truncated network's head on images, at a fraction of the
cost; it is not the paper's fine-tuning of the whole truncated network.
"""
from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from . import __version__, finetune  # noqa: E402
from .data import image_dataset, normalise, probe_rows  # noqa: E402
from .io import BaseselError, atomic_path  # noqa: E402
from .models import ArchSpec  # noqa: E402
from .scores import METRICS, ScoreAccumulator  # noqa: E402
from .training import Schedule  # noqa: E402


@dataclass(frozen=True)
class ConvLayer:
    """Layer k: `conv` names the convolution, `tap` the module whose output (after ReLU when
    `relu`) is layer k's output."""

    index: int
    conv: str
    tap: str
    relu: bool

    @property
    def output(self) -> str:
        return f"relu({self.tap})" if self.relu else self.tap


def conv_layers(model: nn.Module, arch: str) -> list[ConvLayer]:
    """The conv layers of `model` in forward order, numbered from 1 (see the module docstring)."""
    layers: list[ConvLayer] = []
    if arch in ("alexnet", "vgg16"):
        mods = list(model.features)
        for i, m in enumerate(mods):
            if isinstance(m, nn.Conv2d):
                if i + 1 >= len(mods) or not isinstance(mods[i + 1], nn.ReLU):
                    raise BaseselError(f"{arch}: features.{i} is a Conv2d not followed by a ReLU")
                layers.append(ConvLayer(len(layers) + 1, f"features.{i}", f"features.{i + 1}", False))
        return layers
    if arch == "resnet18":
        layers.append(ConvLayer(1, "conv1", "bn1", True))
        for stage in ("layer1", "layer2", "layer3", "layer4"):
            for b in range(len(getattr(model, stage))):
                block = f"{stage}.{b}"
                layers.append(ConvLayer(len(layers) + 1, f"{block}.conv1", f"{block}.bn1", True))
                layers.append(ConvLayer(len(layers) + 1, f"{block}.conv2", block, False))
        return layers
    raise ValueError(f"unknown architecture {arch!r}")


def select_layers(model: nn.Module, arch: str, indices=None) -> list[ConvLayer]:
    """All conv layers, or those whose index is in `indices` (an unknown index is an error)."""
    layers = conv_layers(model, arch)
    if indices is None:
        return layers
    known = {layer.index for layer in layers}
    bad = sorted(set(indices) - known)
    if bad:
        raise BaseselError(f"{arch} has conv layers 1..{len(layers)}; no layer {', '.join(map(str, bad))}")
    return [layer for layer in layers if layer.index in set(indices)]


class LayerTap:
    """Forward hooks on several conv layers. Per forward pass: each layer's GAP features
    (`pooled[k]`, (B, C)), its featuremap shape (`shapes[k]`, (C, H, W)) and, for the batch rows
    flagged in `keep` (all when None), its featuremaps: stored in `maps[k]` ((b, C, H, W), copied so
    that no later in-place op can change them), or, when `sink` is given, handed to `sink(k, maps)`
    as the hook runs, so that only one layer's maps are alive at a time."""

    def __init__(self, model: nn.Module, arch: str, indices=None, maps: bool = True, sink=None):
        self.layers = select_layers(model, arch, indices)
        self.want_maps, self.sink = maps, sink
        self.keep: torch.Tensor | None = None
        self.pooled: dict[int, torch.Tensor] = {}
        self.maps: dict[int, torch.Tensor] = {}
        self.shapes: dict[int, tuple] = {}
        modules = dict(model.named_modules())
        self._handles = [modules[layer.tap].register_forward_hook(self._grab(layer)) for layer in self.layers]

    def _grab(self, layer: ConvLayer):
        def hook(module, inputs, output):
            out = (torch.relu(output) if layer.relu else output).detach()
            k = layer.index
            self.pooled[k] = out.float().mean(dim=(2, 3))
            self.shapes[k] = tuple(out.shape[1:])
            if not (self.want_maps or self.sink is not None):
                return
            kept = out if self.keep is None else out[self.keep.to(out.device)]
            if self.sink is not None:
                if len(kept):
                    self.sink(k, kept.float())
            else:
                self.maps[k] = kept.float().clone()
        return hook

    def close(self) -> None:
        for h in self._handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def extract_layers(model: nn.Module, spec: ArchSpec, target_index: pd.DataFrame, out_path, *, probe_per_class: int,
                   probe_seed: int, batch_size: int, device, margin: float = 1.0, indices=None,
                   preload_max_mb: float = 2048, workers: int = 0, attrs: dict | None = None,
                   progress: bool = True, dataset=None) -> pd.DataFrame:
    """One forward pass over a target's train and test images: every selected layer's GAP features
    (written to `out_path`) and its S1..S6 on the probe set (the same probe rows, drawn the same
    way, as featuremaps.extract). Returns the per-layer scores.

    Memory: the GAP features of every layer (M x the sum of the layers' channels, float32) and one
    scores.ScoreAccumulator per layer (K class means of C*H*W float64 values each: about 2 GB for
    full-width ResNet18 at 224 px and 100 classes, mostly the early layers); featuremaps are
    scored as each hook fires and never kept.

    File: feature_labels (M,), feature_split (M,) [0 train, 1 test], labels (P,), probe_index (P,);
    a group `layerNN` per layer with dataset `features` (M, C) float32 and attributes layer, conv,
    output, channels, height, width, S1..S6.
    """
    train = target_index[target_index.split == "train"].reset_index(drop=True)
    test = target_index[target_index.split == "test"].reset_index(drop=True)
    probe = probe_rows(train, probe_per_class, probe_seed)
    rows = pd.concat([train, test], ignore_index=True)
    labels = rows.label.to_numpy().astype(np.int64)
    split = np.r_[np.zeros(len(train), np.uint8), np.ones(len(test), np.uint8)]
    is_probe = np.zeros(len(rows), bool)
    is_probe[probe] = True
    if dataset is None:
        dataset = image_dataset(rows.path.tolist(), labels, spec.input_size, preload_max_mb, workers)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         num_workers=0 if isinstance(dataset, torch.utils.data.TensorDataset) else workers,
                                         pin_memory=device.type == "cuda")
    model.eval().to(device)
    accs: dict[int, ScoreAccumulator] = {}
    batch = {"labels": None}

    def score(k, maps):  # called by the hook, while the layer's output is current
        accs[k].update(maps.cpu().numpy(), batch["labels"])

    pooled: dict[int, list[np.ndarray]] = {}
    with LayerTap(model, spec.arch, indices, sink=score) as tap, torch.no_grad():
        layers = tap.layers
        accs.update({layer.index: ScoreAccumulator(margin) for layer in layers})
        done = 0
        for x, _ in loader:
            sl = slice(done, done + len(x))
            sel = is_probe[sl]
            tap.keep, batch["labels"] = torch.from_numpy(sel), labels[sl][sel]
            model(normalise(x.to(device, non_blocking=True)))
            for layer in layers:
                pooled.setdefault(layer.index, []).append(tap.pooled[layer.index].cpu().numpy())
            done += len(x)
            if progress:
                print(f"\r[layers] {done}/{len(rows)} images", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        shapes = dict(tap.shapes)
    if done != len(rows):
        raise BaseselError(f"the loader gave {done} images but the index has {len(rows)}")
    table = []
    with atomic_path(out_path, ".h5") as tmp, h5py.File(tmp, "w", locking=False) as f:
        f["feature_labels"] = labels
        f["feature_split"] = split
        f["labels"] = labels[probe]
        f["probe_index"] = probe.astype(np.int64)
        for layer in layers:
            k = layer.index
            scores = accs[k].result()
            c, h, w = shapes[k]
            g = f.create_group(f"layer{k:02d}")
            feats = np.concatenate(pooled[k]).astype(np.float32)
            g.create_dataset("features", data=feats, chunks=(max(1, min(len(feats), 2**18 // c)), c), compression="lzf")
            meta = {"layer": k, "conv": layer.conv, "output": layer.output, "channels": c, "height": h, "width": w}
            g.attrs.update({**meta, **scores})
            table.append({**meta, **scores})
        f.attrs.update({
            "arch": spec.arch, "width": spec.width, "input_size": spec.input_size,
            "num_source_classes": spec.num_classes, "probe_per_class": probe_per_class, "probe_seed": probe_seed,
            "s6_margin": margin, "target_classes": list(dict.fromkeys(train["class"])),
            "layers": [layer.index for layer in layers], "basesel_version": __version__, **(attrs or {}),
        })
    return pd.DataFrame(table)


def read_layers(path) -> tuple[pd.DataFrame, dict[int, tuple]]:
    """The per-layer scores table and {layer: ((x_train, y_train), (x_test, y_test))} of a layer file."""
    with h5py.File(path, "r", locking=False) as f:
        for key in ("feature_labels", "feature_split"):
            if key not in f:
                raise BaseselError(f"{path}: no dataset {key!r} (is it a basesel layer file?)")
        y, s = f["feature_labels"][:], f["feature_split"][:]
        groups = sorted(k for k in f if k.startswith("layer"))
        if not groups:
            raise BaseselError(f"{path}: no layer groups")
        table, data = [], {}
        for name in groups:
            g = f[name]
            x = g["features"][:]
            if not np.isfinite(x).all():
                raise BaseselError(f"{path}: {name} features contain NaN or inf")
            meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in g.attrs.items()}
            table.append(meta)
            data[int(meta["layer"])] = ((x[s == 0], y[s == 0]), (x[s == 1], y[s == 1]))
    cols = ["layer", "conv", "output", "channels", "height", "width", *METRICS]
    return pd.DataFrame(table)[cols], data


def fit_head(train, test, schedule: Schedule, *, seed: int, resume_path, log_path, device, label: str,
             params=None) -> dict:
    """A new FC layer on one layer's cached GAP features: finetune.fit_head, the head fine-tuning's own."""
    (_, ytr), (_, yte) = train, test
    log = finetune.fit_head(train, test, schedule, seed=seed, resume_path=resume_path, log_path=log_path, device=device,
                    label=label, params=params)
    return {"accuracy": float(log.val_acc.iloc[-1]), "best_epoch_accuracy": float(log.val_acc.max()),
            "train_accuracy": float(log.train_acc.iloc[-1]), "epochs": int(log.epoch.iloc[-1]),
            "n_train": len(ytr), "n_test": len(yte), "log": log}


def truncate_finetune(paths: dict[str, str], schedule: Schedule, *, seed: int, device,
                      label: str = "layers") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fine-tune a new FC layer on every layer of every target's layer file.

    Returns (table: a row per (target, layer) with the layer's scores and accuracies, and the
    concatenated per-epoch logs). Fits are cheap, so their resume files live in a temporary folder.
    """
    rows, logs = [], []
    with tempfile.TemporaryDirectory(prefix="basesel-layers-") as tmp:
        for target, path in paths.items():
            table, data = read_layers(path)
            for meta in table.to_dict("records"):
                k = int(meta["layer"])
                name = f"{target}_layer{k:02d}"
                result = fit_head(*data[k], schedule, seed=seed, resume_path=Path(tmp) / f"{name}.resume.pt",
                                  log_path=Path(tmp) / f"{name}.tsv", device=device, label=f"{label} {target} layer {k}",
                                  params={"mode": "truncate-head", "layer": k, "input": str(path)})
                logs.append(result.pop("log").assign(target=target, layer=k))
                rows.append({"target": target, **meta, **result})
    log = pd.concat(logs, ignore_index=True)
    log = log[["target", "layer", *[c for c in log.columns if c not in ("target", "layer")]]]
    return pd.DataFrame(rows), log
