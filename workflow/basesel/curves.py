"""The paper's Figure 1: S1..S6 and the feature norm recorded at every epoch of one training run.

`ScoreTracker` is a `training.fit` epoch hook: after each epoch's validation it passes a fixed probe
set through the model and returns S1..S6 (scores.ScoreAccumulator, shared/spec/metrics.md) and the
feature norm of the probe layer (models.probe_layer: the last conv block after its ReLU, before any
pooling, the layer the main workflow probes). No checkpoint is stored per epoch unless asked for.

Definitions this module fixes (the paper does not give them):
- probe set: `per_class` images per class of the source's *validation* split (the model trains on
  the train split), fewer where a class has fewer, drawn with a fixed seed (`source_probe`);
- feature norm: the mean over probe images of the L2 norm of the flattened featuremap,
  (1/N) sum_i ||vec(F_i)||_2;
- standardised curves (Figure 1) and the correlation of each score with validation accuracy across
  epochs: see experiments.standardise and experiments.curve_correlations.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .data import normalise
from .io import BaseselError, atomic_path
from .models import ArchSpec, FeatureTap, checkpoint_dict
from .scores import ScoreAccumulator


def source_probe(val: pd.DataFrame, per_class: int, seed: int) -> np.ndarray:
    """Positions in `val` of the probe: `per_class` images per class (all of a class that has
    fewer), drawn with `seed` the way data.probe_rows draws a target's probe set."""
    if per_class < 1:
        raise BaseselError(f"probe_per_class must be >= 1, got {per_class}")
    picks = []
    for label, rows in val.reset_index(drop=True).groupby("label"):
        rng = np.random.default_rng([seed, int(label)])
        picks.append(np.sort(rng.choice(rows.index.to_numpy(), size=min(per_class, len(rows)), replace=False)))
    if not picks:
        raise BaseselError("the source validation split is empty: no probe set for the training curves")
    return np.concatenate(picks)


def feature_norm(featuremaps: np.ndarray) -> np.ndarray:
    """Per image, the L2 norm of the flattened featuremap (N, C, H, W) -> (N,)."""
    flat = np.asarray(featuremaps, dtype=np.float64).reshape(len(featuremaps), -1)
    return np.sqrt(np.einsum("nd,nd->n", flat, flat))


def probe_scores(model: torch.nn.Module, arch: str, probe, *, margin: float = 1.0, batch_size: int = 128,
                 device=None, workers: int = 0) -> dict[str, float]:
    """S1..S6 and the feature norm of `model`'s probe-layer featuremaps on `probe`, a dataset of
    (uint8 image (3, H, W), label) pairs (decoded in memory or streamed, as data.image_dataset gives)."""
    device = device or next(model.parameters()).device
    if isinstance(probe, torch.utils.data.TensorDataset):
        workers = 0  # already in memory
    loader = torch.utils.data.DataLoader(probe, batch_size=batch_size, shuffle=False, num_workers=workers,
                                         pin_memory=device.type == "cuda")
    was_training = model.training
    model.eval()
    acc, norm_sum = ScoreAccumulator(margin), 0.0
    try:
        with FeatureTap(model, arch) as tap, torch.no_grad():
            for x, y in loader:
                model(normalise(x.to(device)))
                fm = tap.featuremap.float().cpu().numpy()
                acc.update(fm, y.numpy())
                norm_sum += float(feature_norm(fm).sum())
    finally:
        model.train(was_training)
    return {**acc.result(), "feature_norm": norm_sum / acc.count}


class ScoreTracker:
    """Epoch hook for training.fit: the probe scores of every epoch, and optionally a checkpoint.

    Checkpoints go to `checkpoint_dir/model_epochNN.pt`; the workflow points it at a staging folder
    that is not a Snakemake output, so that the files of the epochs before a kill survive for the
    resumed run. The probe pass draws no random numbers, so a resumed run's log equals an
    uninterrupted one's.
    """

    def __init__(self, arch: str, probe, *, margin: float = 1.0, batch_size: int = 128, device=None,
                 workers: int = 0, spec: ArchSpec | None = None, checkpoint_dir=None, epochs: int | None = None):
        if checkpoint_dir is not None and spec is None:
            raise ValueError("keeping checkpoints needs the model's ArchSpec")
        self.arch, self.probe = arch, probe
        self.margin, self.batch_size, self.device, self.workers = margin, batch_size, device, workers
        self.spec, self.checkpoint_dir = spec, None if checkpoint_dir is None else Path(checkpoint_dir)
        self.digits = max(2, len(str(epochs or 0)))

    def checkpoint_name(self, epoch: int) -> str:
        return f"model_epoch{epoch:0{self.digits}d}.pt"

    def __call__(self, model: torch.nn.Module, epoch: int) -> dict[str, float]:
        row = probe_scores(model, self.arch, self.probe, margin=self.margin, batch_size=self.batch_size,
                           device=self.device, workers=self.workers)
        if self.checkpoint_dir is not None:
            ckpt = checkpoint_dict(model, self.spec, epoch=epoch, **row)
            with atomic_path(self.checkpoint_dir / self.checkpoint_name(epoch), ".pt") as tmp:
                torch.save(ckpt, tmp)
        return row
