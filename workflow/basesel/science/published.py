"""Published ground truths (data/published/): tables of fine-tuned accuracies, a row per (target,
model), used in place of fine-tuning for the zoo models they cover (config `ground_truth`), and
what the field's two published tables already say (`benchmarks`, the report's section).

`read` uses the standard library alone: the workflow's plan reads a table when the Snakefile is
parsed, so that a table missing one of a group's models fails before any job (a group's ground
truth has one source), and the table rule reads the same numbers through the same function.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from .. import BaseselError

# The value table.tsv's `accuracy_source` column holds for a pair fine-tuned by the workflow.
FINETUNED_HERE = "fine-tuned here"


def read(path, *, model: str = "model", target: str = "target", accuracy: str = "accuracy") -> dict:
    """{(target, model): accuracy} of a TSV (or .csv) ground-truth table; an error names the file
    and what is wrong (a missing column, a value that is not a finite number, a pair twice)."""
    path = Path(path)
    if not path.is_file():
        raise BaseselError(f"ground_truth.table: {path} does not exist")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="," if path.suffix.lower() == ".csv" else "\t")
        columns = reader.fieldnames or []
        lacking = [c for c in (model, target, accuracy) if c not in columns]
        if lacking:
            raise BaseselError(f"ground_truth.table {path}: no column {', '.join(lacking)} (its columns: "
                               f"{', '.join(columns)}; ground_truth.model, .target and .accuracy name them)")
        out, lines = {}, {}
        for line, row in enumerate(reader, start=2):
            key = (row[target].strip(), row[model].strip())
            try:
                value = float(row[accuracy])
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value):
                raise BaseselError(f"ground_truth.table {path}: line {line} (target {key[0]!r}, model {key[1]!r}), column "
                                   f"{accuracy!r}: {row[accuracy]!r} is not a number")
            if key in out:
                raise BaseselError(f"ground_truth.table {path}: target {key[0]!r}, model {key[1]!r} appears twice "
                                   f"(lines {lines[key]} and {line})")
            out[key], lines[key] = value, line
    return out


def covered_pairs(table: dict, models: list, targets: list) -> dict:
    """{(model, target): accuracy} of the pairs the table gives the ground truth of: every (model,
    target) of a target the table has rows for. A target it has rows for but not for every model is
    an error naming the missing pairs, since one group's accuracies must come from one source."""
    out, missing = {}, []
    for t in targets:
        if not any(key[0] == t for key in table):
            continue  # not in the table: fine-tuned here
        for m in models:
            if (t, m) in table:
                out[(m, t)] = table[(t, m)]
            else:
                missing.append(f"{m} on {t}")
    if missing:
        raise BaseselError(f"ground_truth.table has rows for these targets but not for {', '.join(missing)}; a group's "
                           f"ground truth has one source: add the rows, or drop the model or the target")
    return out


def source_of(table_path) -> str:
    """The `accuracy_source` of a pair whose accuracy a published table gives."""
    return f"published: {table_path}"


# The published scores of each shipped table (data/published/README.md), and the task-agnostic one.
TLLIB_SCORES = ("HScore", "LEEP", "LogME", "NCE", "imagenet_top1")


def benchmarks(folder, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """What the shipped tables say, {file name under results/published/: table}:
    - tllib/: the analysis of TLlib's table (every printed score and ImageNet top-1 accuracy, a
      group per target: correlations with intervals, the leaderboard with win shares, win rates);
    - sfda/: the same of SFDA's table, whose only score is ImageNet top-1 accuracy (so no win
      rates), and printed.tsv:
      the weighted tau SFDA's README prints for LEEP, LogME, NLEEP, PARC and SFDA per target beside
      ImageNet top-1 accuracy's on the same ground truth, and their means;
    - agreement/: SFDA's fine-tuned accuracy as a score of TLlib's, on their eight common targets and
      ten common models: how well one published fine-tuning predicts the other."""
    import pandas as pd

    from .analysis import Layout, analyze

    folder = Path(folder)
    layout = Layout(model="model", groups=("target",), truth="accuracy")
    tllib, sfda = (pd.read_csv(folder / f"{n}.tsv", sep="\t") for n in ("tllib", "sfda"))
    out = {}
    for name, table, scores in (("tllib", tllib, TLLIB_SCORES), ("sfda", sfda, ("imagenet_top1",))):
        results = analyze(table, n_boot=n_boot, seed=seed, layout=layout, metrics=scores, win_rates=True)
        files = ["correlations.tsv", "leaderboard.tsv", "summary.json"] + (["win_rates.tsv"] if len(scores) > 1 else [])
        out.update({f"{name}/{f}": results[f] for f in files})  # win rates need two scores: SFDA's table has one
    printed = pd.read_csv(folder / "sfda_printed.tsv", sep="\t").pivot(index="target", columns="score", values="weighted_tau")
    ours = out["sfda/correlations.tsv"].set_index("target").weighted_tau
    printed = printed[["LEEP", "LogME", "NLEEP", "PARC", "SFDA"]].assign(imagenet_top1=ours.reindex(printed.index))
    printed.loc["mean"] = printed.mean()
    out["sfda/printed.tsv"] = printed.reset_index()
    both = tllib[["target", "model", "accuracy"]].merge(
        sfda[["target", "model", "accuracy"]].rename(columns={"accuracy": "sfda_accuracy"}), on=["target", "model"])
    results = analyze(both, n_boot=n_boot, seed=seed, layout=layout, metrics=["sfda_accuracy"])
    out.update({f"agreement/{f}": results[f] for f in ("correlations.tsv", "summary.json")})
    return out
