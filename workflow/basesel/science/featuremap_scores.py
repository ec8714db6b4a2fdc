"""The seed paper's six featuremap scores S1..S6, as docs/metrics.md defines them.

`ScoreAccumulator` computes all six in one streaming pass over batches of featuremaps: its memory
is one (K, D) array of class means plus one batch, whatever the number of images. Sums are kept
in float64; class scatter is merged batch by batch with Chan et al.'s pairwise update, so S2 does
not suffer the cancellation of sum(x^2) - n*mean^2.

S5 and S6 count exact zeros, which a ReLU makes. Where no element of any probe featuremap is 0 (a
layer after GELU, SiLU, a norm or a residual sum: ConvNeXt, ViTs, EfficientNet), they are not
applicable: the value is NOT_APPLICABLE and the result's "not_applicable" names the reason; never
a number that would rank a model (docs/metrics.md).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import BaseselError

METRICS = ("S1", "S2", "S3", "S4", "S5", "S6")
# The weight of S6 in the paper's best combination C_56(alpha) = (1 - alpha) S5' + alpha S6'
# (section 5.3); the one place it is written.
PAPER_ALPHA = 0.574
# C_56 as the leaderboard ranks it: at the paper's alpha, and at the alpha fitted on the other
# (architecture, target) groups (analysis.with_c56).
C56 = (f"C_56({PAPER_ALPHA:g})", "C_56(LOGO)")
# +1 where larger is better, -1 where smaller is better (the spec's table).
DIRECTION = {"S1": 1, "S2": -1, "S3": 1, "S4": -1, "S5": -1, "S6": -1}
# The value of a score that does not apply to a (model, target), in every result file and table.
NOT_APPLICABLE = "not applicable"
NO_ZEROS = ("no element of the probed layer is exactly 0 on the probe images (no ReLU there); S5 and S6 count the "
            "zeros a ReLU makes")


def as_numbers(frame):
    """Score columns (a DataFrame) as floats: NaN where a score is NOT_APPLICABLE (and where a cell
    is not a number at all: science.analysis.check_table tells these apart)."""
    import pandas as pd

    return frame.mask(frame.isin([NOT_APPLICABLE])).apply(pd.to_numeric, errors="coerce")


def describe_reasons(reasons: dict[str, str]) -> str:
    """The table's `not_applicable` cell of a (model, target): the scores that do not apply, grouped
    by reason ("S5, S6: why; LEEP@probe: why"), or "" where all do."""
    by_reason: dict[str, list[str]] = {}
    for score, why in reasons.items():
        by_reason.setdefault(why, []).append(score)
    return "; ".join(f"{', '.join(scores)}: {why}" for why, scores in by_reason.items())


def channel_correlation(batch: np.ndarray) -> np.ndarray:
    """Per image, the sum over channel pairs a<b of |pearson(F[a], F[b])|; constant maps count 0."""
    b, c = batch.shape[:2]
    z = batch.reshape(b, c, -1).astype(np.float64)
    z = z - z.mean(axis=2, keepdims=True)
    norm = np.sqrt(np.einsum("bcp,bcp->bc", z, z))
    # A constant map has zero norm after centring: its correlations are defined as 0.
    z = np.divide(z, norm[..., None], out=np.zeros_like(z), where=norm[..., None] > 0)
    corr = np.abs(np.einsum("bcp,bdp->bcd", z, z))
    return (corr.sum(axis=(1, 2)) - np.einsum("bcc->b", corr)) / 2.0


def sparsity(batch: np.ndarray) -> np.ndarray:
    """Per image, the fraction of elements exactly equal to 0."""
    flat = batch.reshape(batch.shape[0], -1)
    return (flat == 0).sum(axis=1) / flat.shape[1]


def steepness(batch: np.ndarray, margin: float) -> np.ndarray:
    """Per image, #(elements within `margin` of the image's max) / max(#zeros, 1)."""
    flat = batch.reshape(batch.shape[0], -1)
    high = (flat.max(axis=1, keepdims=True) - flat < margin).sum(axis=1)
    zeros = (flat == 0).sum(axis=1)
    return high / np.maximum(zeros, 1)


class ScoreAccumulator:
    """Feed (featuremaps, labels) batches with `update`; `result()` gives S1..S6."""

    def __init__(self, margin: float = 1.0):
        if not margin > 0:
            raise ValueError(f"S6 margin must be > 0, got {margin}")
        self.margin = float(margin)
        self.n: dict[int, int] = {}
        self.mean: dict[int, np.ndarray] = {}
        self.m2: dict[int, float] = {}
        self.sums = {"S4": 0.0, "S5": 0.0, "S6": 0.0}
        self.count = 0
        self.any_zero = False
        self.shape: tuple[int, ...] | None = None

    def update(self, featuremaps: np.ndarray, labels: np.ndarray) -> None:
        """Add a batch: featuremaps (N, C, H, W) and their labels (N,)."""
        fm = np.asarray(featuremaps)
        labels = np.asarray(labels)
        if fm.ndim != 4:
            raise BaseselError(f"featuremaps must have shape (N, C, H, W), got {fm.shape}")
        if labels.shape != (fm.shape[0],):
            raise BaseselError(f"labels must have shape ({fm.shape[0]},), got {labels.shape}")
        if self.shape is None:
            self.shape = fm.shape[1:]
        elif fm.shape[1:] != self.shape:
            raise BaseselError(f"featuremap shape changed from {self.shape} to {fm.shape[1:]}")
        if not np.isfinite(fm).all():
            raise BaseselError("featuremaps contain NaN or inf (a diverged model?)")
        flat = fm.reshape(fm.shape[0], -1).astype(np.float64)
        for k in np.unique(labels):
            x = flat[labels == k]
            nb, mb = len(x), x.mean(axis=0)
            m2b = float(((x - mb) ** 2).sum())
            k = int(k)
            if k not in self.n:
                self.n[k], self.mean[k], self.m2[k] = nb, mb, m2b
                continue
            na = self.n[k]
            delta = mb - self.mean[k]
            tot = na + nb
            self.mean[k] = self.mean[k] + delta * (nb / tot)
            self.m2[k] += m2b + float(delta @ delta) * na * nb / tot
            self.n[k] = tot
        self.sums["S4"] += float(channel_correlation(fm).sum())
        zeros = sparsity(fm)
        self.any_zero = self.any_zero or bool(zeros.any())
        self.sums["S5"] += float(zeros.sum())
        self.sums["S6"] += float(steepness(fm, self.margin).sum())
        self.count += fm.shape[0]

    def result(self) -> dict:
        """S1..S6 of everything added so far (S5 and S6 NOT_APPLICABLE, with the reason under
        "not_applicable", where no element was 0); BaseselError where they are undefined."""
        n_total, k_total = self.count, len(self.n)
        if k_total < 2:
            raise BaseselError(f"S1..S3 need at least 2 classes in the probe set, got {k_total}")
        if n_total <= k_total:
            raise BaseselError(f"S3 needs more probe images ({n_total}) than classes ({k_total}); raise probe_per_class")
        if self.shape[1] * self.shape[2] == 1:
            warnings.warn("featuremaps are 1x1: every channel map is a constant, so S4 is 0 by definition", stacklevel=2)
        counts = np.array([self.n[k] for k in sorted(self.n)], dtype=np.float64)
        means = np.stack([self.mean[k] for k in sorted(self.n)])
        grand = counts @ means / n_total
        s1 = float((counts * ((means - grand) ** 2).sum(axis=1)).sum())
        s2 = float(sum(self.m2.values()))
        s3 = math.inf if s2 == 0 else (s1 / (k_total - 1)) / (s2 / (n_total - k_total))
        out = {"S1": s1, "S2": s2, "S3": s3, "S4": self.sums["S4"] / n_total,
               "S5": self.sums["S5"] / n_total, "S6": self.sums["S6"] / n_total}
        if not self.any_zero:
            out.update(S5=NOT_APPLICABLE, S6=NOT_APPLICABLE, not_applicable={"S5": NO_ZEROS, "S6": NO_ZEROS})
        return out


def paper_scores(featuremaps: np.ndarray, labels: np.ndarray, margin: float = 1.0, batch_size: int = 64) -> dict[str, float]:
    """S1..S6 of in-memory arrays (N, C, H, W) and (N,)."""
    acc = ScoreAccumulator(margin)
    for start in range(0, len(labels), batch_size):
        acc.update(featuremaps[start:start + batch_size], labels[start:start + batch_size])
    return acc.result()


def scores_from_h5(path, margin: float = 1.0, batch_size: int = 64) -> dict[str, float]:
    """S1..S6 streamed from an HDF5 file's `featuremaps` (N, C, H, W) and `labels` (N,) datasets."""
    import h5py

    with h5py.File(path, "r", locking=False) as f:
        for key in ("featuremaps", "labels"):
            if key not in f:
                raise BaseselError(f"{path}: no dataset {key!r} (is it a basesel featuremap file?)")
        fm, labels = f["featuremaps"], f["labels"][:]
        if fm.shape[0] != labels.shape[0]:
            raise BaseselError(f"{path}: {fm.shape[0]} featuremaps but {labels.shape[0]} labels")
        acc = ScoreAccumulator(margin)
        for start in range(0, len(labels), batch_size):
            acc.update(fm[start:start + batch_size], labels[start:start + batch_size])
        return acc.result()
