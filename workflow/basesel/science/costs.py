"""What each score costs, per (base model, target), beside the fine-tuning it would spare.

A score's cost is the seconds of the score itself plus those of the forward pass over the images it
needs, both measured inside the jobs (the `seconds` record of each result file and the `seconds`
attribute of each pass's HDF5 file):
- S1..S6: the probe pass (the probe images) plus the S1..S6 computation, shared by all six; C_56
  costs what they cost;
- a baseline NAME: the share of the features pass spent on the training split (the split it reads)
  plus its own computation; NAME@probe: the probe pass plus its computation;
- the task-agnostic baselines read a number the base model carries: they cost nothing measurable;
- fine-tuning: the features pass over the training and test images plus the head's training (in
  mode full, the whole training, which includes its passes).
Start-up, file I/O and scheduling are excluded: they are the workflow's, not the method's.
"""
from __future__ import annotations

import pandas as pd

from .featuremap_scores import METRICS

FINETUNE = "fine-tuning"


def pair_costs(arch, source, target, records: dict) -> list[dict]:
    """Rows (arch, source, target, score, seconds) of one pair from its files' `seconds` records
    {"scores": ..., "baselines": ..., "finetune": ...} ("finetune" absent where the accuracy is a
    published one): each score's own seconds, and "pass", the
    forward pass its file's scores share (the probe pass; the features pass's training share)."""
    rows = []
    for kind in ("scores", "baselines"):
        record = records[kind]
        for name, seconds in record.items():
            if name == "S1..S6":  # computed together; C_56 is computed from them at no further cost
                rows += [(m, seconds + record["pass"]) for m in METRICS]
            elif name != "pass":
                rows.append((name, seconds + record["pass"]))
    if "finetune" in records:  # none where a published table gives the accuracy (config ground_truth)
        ft = records["finetune"]
        rows.append((FINETUNE, ft["train"] + ft.get("pass", 0.0)))
    return [{"arch": arch, "source": source, "target": target, "score": s, "seconds": t} for s, t in rows]


def summary(costs: pd.DataFrame) -> pd.DataFrame:
    """Mean seconds per score over pairs, and the fine-tuning it is set against."""
    return costs.groupby("score", sort=False).seconds.mean().rename("mean_seconds").reset_index()
