"""The paper's Figure 1: S1..S6 and the feature norm at every epoch of one training run.

The whole-pool model is trained once (pretrain_whole) and keeps a checkpoint per epoch
(`EpochCheckpoints`, a training.fit epoch hook); the scores of every epoch are measured afterwards
from those checkpoints (`epoch_scores`), so that a new probe set or S6 margin reruns the
measurement, never the training.

Definitions this module fixes (the paper does not give them):
- probe set: `curves.probe_per_class` images per class of the source's *validation* split (the
  model trains on the train split), all of a class that has fewer, drawn with the seed
  (data.subsets.probe_rows with short="all");
- feature norm: the mean over probe images of the L2 norm of the flattened featuremap of the probed
  layer (models.archs.Architecture.probe), (1/N) sum_i ||vec(F_i)||_2;
- standardised curves (Figure 1) and the correlation of each score with validation accuracy across
  epochs: see science.experiments.standardise and science.experiments.curve_correlations.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import BaseselError
from ..io import atomic_path
from ..models.paper import ArchSpec, checkpoint_dict, load_probed, probed
from ..science.featuremap_scores import ScoreAccumulator
from .passes import image_batches


def feature_norm(featuremaps: np.ndarray) -> np.ndarray:
    """Per image, the L2 norm of the flattened featuremap (N, C, H, W) -> (N,)."""
    flat = np.asarray(featuremaps, dtype=np.float64).reshape(len(featuremaps), -1)
    return np.sqrt(np.einsum("nd,nd->n", flat, flat))


def probe_scores(model: torch.nn.Module, spec: ArchSpec, probe, *, margin: float = 1.0, batch_size: int = 128,
                 device=None, workers: int = 0) -> dict[str, float]:
    """S1..S6 and the feature norm of `model`'s probed-layer featuremaps on `probe`, a dataset of
    (uint8 image (3, H, W), label) pairs (decoded in memory or streamed, as data.images.image_dataset
    gives). The model's training mode is restored afterwards."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    acc, norm_sum = ScoreAccumulator(margin), 0.0
    reader = probed(model, spec, "probe")
    try:
        with reader.reading() as read:
            for _, x, y in image_batches(probe, reader.preprocess, batch_size=batch_size, device=device,
                                         workers=workers, label="[curve probe]"):
                fm = read(x).featuremap.cpu().numpy()
                acc.update(fm, y.numpy())
                norm_sum += float(feature_norm(fm).sum())
    finally:
        model.train(was_training)
    return {**acc.result(), "feature_norm": norm_sum / acc.count}


def checkpoint_name(epoch: int, epochs: int) -> str:
    """model_epochNN.pt, zero-padded to the digits of the last epoch (at least two)."""
    return f"model_epoch{epoch:0{max(2, len(str(epochs)))}d}.pt"


class EpochCheckpoints:
    """Epoch hook for training.fit: the model of every epoch, as a basesel checkpoint in `folder`.

    The workflow points `folder` at a staging folder that is not a Snakemake output, so that the
    files of the epochs before a kill survive for the resumed run. Saving draws no random numbers,
    so training is the same with or without it.
    """

    def __init__(self, spec: ArchSpec, folder, epochs: int, **extra):
        self.spec, self.folder, self.epochs, self.extra = spec, Path(folder), epochs, extra

    def __call__(self, model: torch.nn.Module, epoch: int) -> dict:
        ckpt = checkpoint_dict(model, self.spec, epoch=epoch, **self.extra)
        with atomic_path(self.folder / checkpoint_name(epoch, self.epochs), ".pt") as tmp:
            torch.save(ckpt, tmp)
        return {}


def publish_checkpoints(staging, folder, epochs: int, resume) -> None:
    """Move the finished run's checkpoints from `staging` (kept across a kill, not a Snakemake
    output) into the output `folder`; a missing epoch is an error naming the way out."""
    staging, out = Path(staging), Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for epoch in range(1, epochs + 1):
        name = checkpoint_name(epoch, epochs)
        if not (staging / name).exists():
            raise BaseselError(f"{staging / name} is missing; delete {resume} and rerun to train afresh")
        (staging / name).replace(out / name)
    shutil.rmtree(staging, ignore_errors=True)


def epoch_scores(checkpoints: list, probe, *, margin: float, batch_size: int = 128, device=None,
                 workers: int = 0) -> pd.DataFrame:
    """A row per checkpoint (in order): its epoch, S1..S6 and the feature norm on `probe`."""
    device = device or torch.device("cpu")
    rows = []
    for path in checkpoints:
        reader, spec, ckpt = load_probed(path)
        reader.model.to(device)
        rows.append({"epoch": int(ckpt["epoch"]), **probe_scores(reader.model, spec, probe, margin=margin,
                                                                   batch_size=batch_size, device=device,
                                                                   workers=workers)})
    return pd.DataFrame(rows)
