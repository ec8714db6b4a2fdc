"""Every score of one (base model, target) pair on its probe images, from its two files: S1..S6 of
the featuremap file, and each baseline on the same images' penultimate features in the features
file (NAME@probe: the image budget of S1..S6). The workflow's scores rule and `basesel scores` both
compute them here."""
from __future__ import annotations

import time

import h5py

from .featuremap_scores import scores_from_h5
from .transfer import AGNOSTIC, FEATURE_SCORES, PROBE_SUFFIX, baseline_scores


def probe_scores(featuremap_file, features_file, *, margin: float, batch_size: int, baselines=None,
                 options: dict | None = None) -> tuple[dict, dict]:
    """(scores, seconds): S1..S6, and NAME@probe for each of `baselines` (None: every feature
    baseline the features file can give; the task-agnostic ones have no image budget and are left
    out); seconds of S1..S6, of each baseline, and of the probe pass ("pass")."""
    start = time.perf_counter()
    scores = scores_from_h5(featuremap_file, margin=margin, batch_size=batch_size)
    seconds = {"S1..S6": time.perf_counter() - start}
    with h5py.File(featuremap_file, "r", locking=False) as f:
        rows = f["probe_index"][:]
        seconds["pass"] = float(f.attrs["seconds"]) if "seconds" in f.attrs else 0.0
    names = [n for n in (FEATURE_SCORES if baselines is None else baselines) if n not in AGNOSTIC]
    probe = baseline_scores(features_file, names if baselines is not None else None, rows=rows, options=options)
    probe = {k: v for k, v in probe.items() if k not in AGNOSTIC}
    seconds.update({f"{k}{PROBE_SUFFIX}": v for k, v in probe.pop("seconds").items()})
    reasons = {**scores.pop("not_applicable", {}),
               **{f"{k}{PROBE_SUFFIX}": v for k, v in probe.pop("not_applicable", {}).items()}}
    scores.update({f"{k}{PROBE_SUFFIX}": v for k, v in probe.items()})
    if reasons:
        scores["not_applicable"] = reasons
    return scores, seconds
