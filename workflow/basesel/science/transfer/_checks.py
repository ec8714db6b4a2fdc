"""Input checks shared by the transferability scores: clear errors instead of silent NaN."""
from __future__ import annotations

import numpy as np

from ... import BaseselError


def features_labels(name: str, features, labels, min_classes: int = 2):
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if f.ndim != 2:
        raise BaseselError(f"{name}: features must be a 2-D array (n, d), got shape {f.shape}")
    if y.shape != (f.shape[0],):
        raise BaseselError(f"{name}: labels must have shape ({f.shape[0]},), got {y.shape}")
    if not np.isfinite(f).all():
        raise BaseselError(f"{name}: features contain NaN or inf")
    classes, y = np.unique(y, return_inverse=True)
    if len(classes) < min_classes:
        raise BaseselError(f"{name}: needs at least {min_classes} classes, got {len(classes)}")
    return f, y, len(classes)


def probabilities(name: str, probs, n: int):
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != n:
        raise BaseselError(f"{name}: source probabilities must have shape ({n}, Z), got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise BaseselError(f"{name}: source probabilities must be finite and non-negative")
    s = p.sum(axis=1, keepdims=True)
    if (s <= 0).any():
        raise BaseselError(f"{name}: a row of source probabilities sums to 0")
    return p / s  # float32 softmax rows sum to 1 only within rounding


def shared_correct(scores: np.ndarray, labels: np.ndarray, atol: float) -> float:
    """Images classified correctly by the largest of their class scores (n, K), a tie within `atol`
    between the true class and m - 1 others counting 1/m (kNN, the linear probe)."""
    winners = np.isclose(scores, scores.max(axis=1, keepdims=True), rtol=0, atol=atol)
    return float((winners[np.arange(len(labels)), labels] / winners.sum(axis=1)).sum())


def finite(name: str, value: float) -> float:
    if not np.isfinite(value):
        raise BaseselError(f"{name}: the score is not finite ({value}); the features are degenerate")
    return float(value)
