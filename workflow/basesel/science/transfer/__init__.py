"""Transferability scores from the later literature, computed on penultimate features.

Every score is a function (features (n, d), labels (n,), source_probs (n, Z) or None) -> float,
larger is better, float64 inside, and raises BaseselError rather than returning NaN. Definitions,
references and departures from published code: docs/metrics.md.
"""
from __future__ import annotations

import numpy as np

from ... import BaseselError
from . import etran, ncti
from .gbc import gbc
from .hscore import hscore, hscore_shrunk
from .knn import knn
from .leep import leep
from .linear_probe import linear_probe
from .logme import logme
from .nce import nce
from .nleep import nleep
from .parc import parc
from .sfda import sfda
from .transrate import transrate

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
    "PARC": (parc, False),
    "kNN": (knn, False),
    "LinearProbe": (linear_probe, False),
}
# Scores published as a combination of per-model parts normalised over the candidate pool (as C_56
# is): a pair's job computes the parts (columns NAME.PART), the analysis combines them per group
# and `basesel rank` over its candidates, never across groups. name -> (parts function, the parts,
# the combination of each part's values over the pool).
POOLED = {
    "NCTI": (ncti.ncti_parts, ncti.PARTS, ncti.combine),
    "ETran": (etran.etran_parts, etran.PARTS, etran.combine),
}
# Proxy tasks (Renggli et al., CVPR 2022): what a classifier on the features reaches, the bar any
# transferability score must clear to be worth computing.
PROXIES = ("kNN", "LinearProbe")
# Task-agnostic baselines any score must beat: properties of the base model alone.
AGNOSTIC = ("source_val_acc", "source_train_images")
FEATURE_SCORES = (*SCORES, *POOLED)  # every score computed from a features file
BASELINES = (*FEATURE_SCORES, *AGNOSTIC)
# The settings a config may give a score (scores.knn, scores.linear_probe): keyword arguments.
OPTIONS = {"kNN": ("k",), "LinearProbe": ("folds", "c", "seed")}


def part_columns(name: str, suffix: str = "") -> list[str]:
    """The columns of a pooled score's parts: NAME.PART, and NAME.PART@probe on the probe set."""
    return [f"{name}.{part}{suffix}" for part in POOLED[name][1]]


def needs_probs(name: str) -> bool:
    """Whether a feature score needs the source head's softmax."""
    return name in SCORES and SCORES[name][1]
# A baseline computed on the probe set alone, the images S1..S6 see: NAME@probe.
PROBE_SUFFIX = "@probe"
# Why a baseline does not apply to a zoo model (a features file with the `zoo_model` attribute).
ZOO_AGNOSTIC = "a property of the workflow's own pretraining, unknown for a zoo model"
NO_HEAD = "the model has no classifier head, so no source softmax"


def compute(names, features, labels, probs=None, seconds: dict | None = None, options: dict | None = None) -> dict[str, float]:
    """The named scores of one set of features (and source softmax, where a score needs it), a
    pooled score as its parts (NAME.PART); the seconds each took go into `seconds` when given;
    `options`: {name: keyword arguments} (OPTIONS)."""
    import time

    options = options or {}
    out = {}
    for name in names:
        start = time.perf_counter()
        if name in POOLED:
            parts = POOLED[name][0](features, labels, None)
            out.update({f"{name}.{part}": v for part, v in parts.items()})
        else:
            fn, probs_needed = SCORES[name]
            out[name] = fn(features, labels, probs if probs_needed else None, **options.get(name, {}))
        if seconds is not None:
            seconds[name] = time.perf_counter() - start
    return out


def compute_applicable(names, features, labels, probs=None, seconds: dict | None = None,
                       options: dict | None = None, reasons: dict | None = None) -> dict:
    """compute(), one score at a time, with the one policy for a score that the input leaves
    undefined (it raises BaseselError: fewer images than kNN's k + 1, than NCTI's classes, a PARC
    with every pair of one class, non-finite features or result): its value, each part's for a pooled score, is
    NOT_APPLICABLE and `reasons` gets the message under the same keys. The workflow's jobs and
    `basesel rank` both go through here, so a score a model cannot have is left out of that
    model's group in both, never a failed job in one and a note in the other. Any other error is a
    bug and is raised."""
    from ..featuremap_scores import NOT_APPLICABLE

    out = {}
    for name in names:
        try:
            out.update(compute([name], features, labels, probs, seconds, options))
        except BaseselError as exc:
            keys = part_columns(name) if name in POOLED else [name]
            out.update(dict.fromkeys(keys, NOT_APPLICABLE))
            if reasons is not None:
                reasons.update(dict.fromkeys(keys, str(exc)))
    return out


def baseline_scores(path, names=None, rows=None, options: dict | None = None) -> dict:
    """Baselines of a features file (compute.passes.write_features_file): the feature scores on its train
    split, or on the train rows at positions `rows` (a probe set), and the task-agnostic ones from
    its attributes; under "seconds", what each feature score took and the share of the file's
    forward pass spent on the rows it read ("pass").

    `names`: from BASELINES, or None for every one whose inputs the file holds; `options`: as
    compute's. A pooled score gives its parts (NAME.PART). An explicitly
    requested baseline whose input is missing is an error, except for a zoo model's file, where it
    is not applicable (the task-agnostic ones; LEEP and NCE without a classifier head): its value is
    featuremap_scores.NOT_APPLICABLE and "not_applicable" gives the reason, as for a score that the
    features leave undefined (compute_applicable).
    """
    from ..featuremap_scores import NOT_APPLICABLE

    import h5py

    wanted = list(BASELINES) if names is None else list(names)
    unknown = [b for b in wanted if b not in BASELINES]
    if unknown:
        raise BaseselError(f"unknown baseline score(s) {', '.join(unknown)}; known: {', '.join(BASELINES)}")
    strict = names is not None
    result, seconds, not_applicable = {}, {}, {}
    with h5py.File(path, "r", locking=False) as f:
        zoo = "zoo_model" in f.attrs
        for name in [b for b in wanted if b in AGNOSTIC]:
            if name in f.attrs:
                result[name] = float(f.attrs[name])
            elif zoo:
                result[name], not_applicable[name] = NOT_APPLICABLE, ZOO_AGNOSTIC
            elif strict:
                raise BaseselError(f"{path}: attribute {name!r} missing, needed for the {name} baseline")
        feature_scores = [b for b in wanted if b in FEATURE_SCORES]
        if not feature_scores:
            return _with_reasons(result, seconds, not_applicable)
        if "features" not in f or "feature_labels" not in f:
            if strict:
                raise BaseselError(f"{path}: datasets 'features' and 'feature_labels' missing, needed for "
                                   f"{', '.join(feature_scores)}")
            return _with_reasons(result, seconds, not_applicable)
        train = f["feature_split"][:] == 0 if "feature_split" in f else np.ones(f["feature_labels"].shape[0], bool)
        take = np.flatnonzero(train) if rows is None else np.flatnonzero(train)[np.asarray(rows)]
        x, y = f["features"][:][take], f["feature_labels"][:][take]
        probs = f["source_probs"][:][take] if "source_probs" in f else None
        if "seconds" in f.attrs and rows is None:  # the pass covered train and test; these scores read train
            seconds["pass"] = float(f.attrs["seconds"]) * train.sum() / len(train)
    needing = [b for b in feature_scores if needs_probs(b)]
    if probs is None and needing:
        if zoo:
            result.update(dict.fromkeys(needing, NOT_APPLICABLE))
            not_applicable.update(dict.fromkeys(needing, NO_HEAD))
        elif strict:
            raise BaseselError(f"{path}: dataset 'source_probs' missing, needed for {', '.join(needing)}")
        feature_scores = [b for b in feature_scores if b not in needing]
    result.update(compute_applicable(feature_scores, x, y, probs, seconds, options, not_applicable))
    return _with_reasons(result, seconds, not_applicable)


def _with_reasons(result: dict, seconds: dict, not_applicable: dict) -> dict:
    return {**result, "seconds": seconds, **({"not_applicable": not_applicable} if not_applicable else {})}
