"""The zoo demo's weights, made on this machine (nothing can be downloaded): a torchvision or timm
architecture trained briefly on the embedded source pool's classes of some families, then written
exactly as a user's downloaded weights are (a .safetensors file, a state dict, or the snapshot
folder timm's `save_for_hf` writes and `hf download` fetches), for the zoo to read back through its
own path (models/zoo.py), like any user's. Different families make base models that transfer
differently to the embedded targets, so the zoo has something to rank."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import torch

from ..data.images import DataBudget, image_datasets, normalise
from ..data.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ..io import atomic_path
from .schedule import Schedule
from .training import fit


def family_rows(index: pd.DataFrame, families) -> pd.DataFrame:
    """The source pool's rows of the classes of `families` (class folders are named cNNN-FAMILY),
    relabelled 0..K-1 in class order."""
    family = index["class"].str.split("-").str[-1]
    rows = index[family.isin(list(families))].copy()
    order = {c: k for k, c in enumerate(dict.fromkeys(rows.loc[rows.split == "train", "class"]))}
    rows["label"] = rows["class"].map(order)
    return rows.reset_index(drop=True)


def build(arch: str, num_classes: int, input_size: int, model_args: dict):
    """A new model of `arch` (torchvision:NAME or timm:NAME); a timm model's data config says the
    input it is trained with here (square, input_size px, ImageNet statistics)."""
    kind, name = arch.split(":", 1)
    if kind == "torchvision":
        import torchvision

        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **model_args)
    from ..models.zoo import timm_module

    cfg = {"input_size": (3, input_size, input_size), "crop_pct": 1.0, "crop_mode": "center",
           "interpolation": "bilinear", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    return timm_module().create_model(name, pretrained=False, num_classes=num_classes, pretrained_cfg_overlay=cfg,
                                      **model_args)


def train_demo_model(spec: dict, source_index: pd.DataFrame, input_size: int, *, seed: int, device, out,
                     log_path, workers: int = 0, budget=2048) -> None:
    """Train the demo model `spec` (plan.demo: arch, families, format, model_args, schedule) and
    write it to `out` in its format."""
    rows = family_rows(source_index, spec["families"])
    train, val = rows[rows.split == "train"], rows[rows.split == "val"]
    classes = int(train.label.max()) + 1
    print(f"[demo {spec['name']}] {spec['arch']} on {', '.join(spec['families'])}: {classes} classes, "
          f"{len(train)} train / {len(val)} val images at {input_size} px", file=sys.stderr)
    torch.manual_seed(seed)
    model = build(spec["arch"], classes, input_size, dict(spec.get("model_args") or {}))
    train_set, val_set = image_datasets([(train.path.tolist(), train.label.to_numpy(), f"demo {spec['name']}: train"),
                                         (val.path.tolist(), val.label.to_numpy(), f"demo {spec['name']}: val")],
                                        input_size, budget, workers)
    schedule = Schedule.from_config({"optimizer": "adam", "lr": 0.001, "weight_decay": 0.0, "epochs": 3,
                                     "step_size": 100, "batch_size": 32}, spec.get("schedule"))
    fit(model, train_set, val_set, schedule, seed=seed, resume_path=None, log_path=log_path,  # too short to resume
        device=device, prepare=normalise, workers=workers, label=f"demo {spec['name']}",
        device_max_mb=DataBudget.of(budget).device_mb(device))
    write_weights(model.cpu().eval(), spec, out)


def write_weights(model, spec: dict, out) -> None:
    """`model` as a user's downloaded weights: safetensors, a state dict, or a timm snapshot folder."""
    fmt = spec["format"]
    if fmt == "snapshot":
        import shutil

        import timm.models

        out = Path(out)
        tmp = out.with_name(f".{out.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        timm.models.save_for_hf(model, str(tmp), model_args=dict(spec.get("model_args") or {}),
                                safe_serialization=True)
        shutil.rmtree(out, ignore_errors=True)
        tmp.replace(out)
        return
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(out, Path(out).suffix) as tmp:
        if fmt == "safetensors":
            from safetensors.torch import save_file

            save_file(state, tmp)
        else:
            torch.save(state, tmp)
