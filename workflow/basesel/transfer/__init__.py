"""Transferability scores from the later literature, computed on penultimate features.

Every score is a function (features (n, d), labels (n,), source_probs (n, Z) or None) -> float,
larger is better, float64 inside, and raises BaseselError rather than returning NaN.
"""
from __future__ import annotations

from .gbc import gbc
from .hscore import hscore, hscore_shrunk
from .leep import leep
from .logme import logme as _logme
from .nce import nce
from .nleep import nleep
from .sfda import sfda
from .transrate import transrate


def logme(features, labels, probs=None) -> float:
    return _logme(features, labels)


# name -> (function, needs the source head's softmax)
SCORES = {
    "LEEP": (leep, True),
    "NCE": (nce, True),
    "HScore": (hscore, False),
    "HScoreShrunk": (hscore_shrunk, False),
    "LogME": (logme, False),
    "NLEEP": (nleep, False),
    "GBC": (gbc, False),
    "TransRate": (transrate, False),
    "SFDA": (sfda, False),
}
# Task-agnostic baselines any score must beat: properties of the base model alone.
AGNOSTIC = ("source_val_acc", "source_train_images")
BASELINES = (*SCORES, *AGNOSTIC)


def compute(names, features, labels, probs=None) -> dict[str, float]:
    out = {}
    for name in names:
        fn, needs_probs = SCORES[name]
        out[name] = fn(features, labels, probs if needs_probs else None)
    return out
