"""Any table of scores and ground truths, read for `basesel analyze`: the workflow's table.tsv, a
published benchmark's (data/published/), a researcher's own.

Wide (a column per score) or long (a score-name column and a value column); any score names; the
model column, the grouping columns and one or more ground-truth columns named by the caller or
found by convention (the workflow's `source` in groups of `arch, target`; `model` in groups of
`target` for a table without `arch`). Every name the caller gives is checked against the table
before any number is computed, and so is every cell (analysis.check_table).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import BaseselError
from .analysis import WORKFLOW, Layout, score_columns

# Text the workflow's table.tsv holds beside its numbers: never a score.
TEXT_COLUMNS = ("not_applicable", "accuracy_source")
# Cells that mean "no value".
MISSING_CELLS = ("", "NA", "NaN", "nan", "-")


@dataclass
class ScoreTable:
    """A table in wide form with what each column is: `layouts` one per ground truth, each analysed
    on its own; `metrics` the score columns; `notes` what was found by convention."""

    df: pd.DataFrame
    layouts: list
    metrics: list
    notes: list


def read(path) -> pd.DataFrame:
    """A TSV (or, by its .csv suffix, a CSV), numbers parsed as the workflow's analysis parses its
    table, and MISSING_CELLS as empty; the analysis checks every other cell, naming the line of any
    that is not a number."""
    path = Path(path)
    if not path.is_file():
        raise BaseselError(f"no such table: {path}")
    try:
        df = pd.read_csv(path, sep="," if path.suffix.lower() == ".csv" else "\t", keep_default_na=False,
                         na_values=list(MISSING_CELLS))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BaseselError(f"{path}: not a readable table ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(set(df.columns)) < len(df.columns):
        raise BaseselError(f"{path}: column names repeat: {', '.join(c for c in df.columns if list(df.columns).count(c) > 1)}")
    return df


def resolve(df: pd.DataFrame, *, model=None, groups=None, truths=None, scores=None, lower=(), ignore=(),
            form: str = "auto", score_column: str = "score", value_column: str = "value") -> ScoreTable:
    """The table in wide form and what each of its columns is (module docstring); every name given
    checked, and the error naming what the table has instead."""
    if form not in ("auto", "wide", "long"):
        raise BaseselError(f"unknown table form {form!r}; one of auto, wide, long")
    columns = list(df.columns)
    notes = []
    absent = [c for c in ignore if c not in columns]
    if absent:
        raise BaseselError(f"--ignore {', '.join(absent)}: no such column; the table's columns: {', '.join(columns)}")
    df = df.drop(columns=list(ignore))
    columns = list(df.columns)
    if model is None:
        model = next((c for c in ("model", "source") if c in columns), None)
        if model is None:
            raise BaseselError(f"no model column (model or source): name it with --model; the table's columns: {', '.join(columns)}")
    elif model not in columns:
        raise BaseselError(f"--model {model}: no such column; the table's columns: {', '.join(columns)}")
    if groups is None:
        groups = ["arch", "target"] if {"arch", "target"} <= set(columns) else [c for c in ("arch", "target") if c in columns]
        notes.append(f"groups: {', '.join(groups)}" if groups else "no arch or target column: the whole table is one group")
    absent = [c for c in groups if c not in columns]
    if absent:
        raise BaseselError(f"--group-by {', '.join(absent)}: no such column; the table's columns: {', '.join(columns)}")
    if model in groups:
        raise BaseselError(f"{model} is the model column and cannot also group the table")
    long = form == "long" or (form == "auto" and {score_column, value_column} <= set(columns))
    truths = list(truths or ["accuracy"])
    if long:
        df = _wide(df, model, groups, truths, score_column, value_column)
        notes.append(f"long form: scores named in {score_column!r}, values in {value_column!r}")
        columns = list(df.columns)
    absent = [t for t in truths if t not in columns]
    if absent:
        raise BaseselError(f"ground-truth column {', '.join(absent)} not in the table (--truth names it); the table's "
                           f"columns: {', '.join(columns)}")
    taken = {model, *groups, *truths, *TEXT_COLUMNS}
    if scores is None:
        rest = [c for c in columns if c not in taken]
        known = [c for c in score_columns(df) if c in rest]  # the workflow's order where it applies
        scores = [*known, *[c for c in rest if c not in known]]
    else:
        absent = [s for s in scores if s not in columns or s in taken]
        if absent:
            raise BaseselError(f"--scores {', '.join(absent)}: not a score column of the table; its other columns: "
                               f"{', '.join(c for c in columns if c not in taken)}")
    if not scores:
        raise BaseselError(f"the table has no score column beside {', '.join(sorted(taken & set(columns)))}")
    unknown = [s for s in lower if s not in scores]
    if unknown:
        raise BaseselError(f"--lower-is-better {', '.join(unknown)}: not a score of the table; its scores: {', '.join(scores)}")
    declared = frozenset({*WORKFLOW.lower_is_better, *lower})
    layouts = [Layout(model=model, groups=tuple(groups), truth=t, lower_is_better=declared) for t in truths]
    return ScoreTable(df, layouts, list(scores), notes)


def _wide(df: pd.DataFrame, model: str, groups: list, truths: list, score_column: str, value_column: str) -> pd.DataFrame:
    """A long table (a row per model, group and score) as a wide one, a column per score; a ground
    truth is a column of the long table (one value per model and group) or a score name."""
    for c in (score_column, value_column):
        if c not in df.columns:
            raise BaseselError(f"a long table needs columns {score_column!r} and {value_column!r}; {c!r} is missing")
    keys = [*groups, model]
    twice = df.duplicated([*keys, score_column], keep=False)
    if twice.any():
        first = df[twice].iloc[0]
        lines = [str(i + 2) for i in df.index[twice & (df[[*keys, score_column]] == first[[*keys, score_column]]).all(axis=1)]]
        raise BaseselError(f"model {first[model]!r} has score {first[score_column]!r} more than once"
                           f"{' in group ' + '/'.join(str(first[g]) for g in groups) if groups else ''} "
                           f"(lines {', '.join(lines)}); one row per model, group and score")
    numbers = pd.to_numeric(df[value_column], errors="coerce")
    from .featuremap_scores import NOT_APPLICABLE

    bad = numbers.isna() & df[value_column].notna() & (df[value_column] != NOT_APPLICABLE)
    if bad.any():
        i = df.index[bad][0]
        raise BaseselError(f"line {i + 2} (model {df.loc[i, model]!r}, score {df.loc[i, score_column]!r}), column "
                           f"{value_column!r}: {df.loc[i, value_column]!r} is not a number")
    wide = df.pivot(index=keys, columns=score_column, values=value_column)
    wide = wide[list(dict.fromkeys(df[score_column]))]  # scores in the order the table first names them
    wide.columns.name = None
    for t in [t for t in truths if t in df.columns]:
        per = df.groupby(keys, sort=False)[t].nunique(dropna=False)
        if (per > 1).any():
            which = per[per > 1].index[0]
            raise BaseselError(f"ground truth {t!r} differs between the rows of one model and group ({which}); "
                               f"a long table gives it once per model and group")
        wide = wide.join(df.groupby(keys, sort=False)[t].first())
    return wide.reset_index()
