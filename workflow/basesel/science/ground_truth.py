"""A published ground truth: a table of fine-tuned accuracies, a row per (target, model), used in
place of fine-tuning for the zoo models it covers (config `ground_truth`; data/published/).

Read with the standard library alone: the workflow's plan reads it when the Snakefile is parsed,
so that a table missing one of a group's models fails before any job (a group's ground truth has
one source), and the table rule reads the same numbers through the same function.
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
