"""`basesel rank`: score a user's candidate models (models/zoo.py) on a user's image folder and rank them.

The probe set (`probe_per_class` training images per class) goes through each model once, read
through the one tap (models/tap.py): the last conv block's output (S1..S6), the classifier's input
and the model's softmax (every baseline of docs/metrics.md on the probe set, NAME@probe). A
baseline on all training images (NAME, as the workflow computes it) takes a second pass, only when
asked for. C_56 combines S5 and S6 as the paper does, min-max scaled over the candidates being
ranked, so it needs at least two candidates to mean anything.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import BaseselError
from .compute.passes import read_pass
from .data.folders import index_dataset
from .data.subsets import probe_rows
from .models.tap import Probed
from .science.featuremap_scores import (C56, DIRECTION, METRICS, NOT_APPLICABLE, ScoreAccumulator, as_numbers,
                                        describe_reasons)
from .science.stats import kendall_rows
from .science.transfer import FEATURE_SCORES, POOLED, PROBE_SUFFIX, needs_probs, part_columns

# What `--scores` may name: the paper's, and every baseline on the probe set or on all training images.
RANKABLE = ("C_56", *C56, *METRICS, *[b + PROBE_SUFFIX for b in FEATURE_SCORES], *FEATURE_SCORES)
DEFAULT = ("C_56", "LogME@probe", *METRICS)


def train_rows(data_dir, probe_per_class: int) -> pd.DataFrame:
    """The training images of an ImageFolder (or of its train/ split when it has one), checked: every
    class holds at least `probe_per_class` images, every image decodes."""
    root = Path(data_dir)
    if not root.is_dir():
        raise BaseselError(f"--data {data_dir}: no such folder")
    if (root / "train").is_dir():
        index = index_dataset(root, ("train",), min_per_class={"train": probe_per_class})
    else:
        index = index_dataset(root.parent, (root.name,), min_per_class={root.name: probe_per_class})
        index["split"] = "train"
    return index.reset_index(drop=True)


def probe_set(rows: pd.DataFrame, probe_per_class: int, seed: int) -> pd.DataFrame:
    """The probe rows: `probe_per_class` images per class, drawn as the workflow draws them."""
    return rows.iloc[probe_rows(rows, probe_per_class, seed)].reset_index(drop=True)


def _pass(cand: Probed, rows: pd.DataFrame, *, device, batch_size: int, label: str, featuremaps=None,
          preload_max_mb: float = 2048):
    """One forward pass of a candidate over `rows`: the penultimate features and the softmax of its
    outputs; the probed layer's featuremaps go to `featuremaps(batch, labels)` when given."""
    labels = rows.label.to_numpy()
    pens, probs = [], []
    for sl, cap in read_pass(cand, rows, batch_size=batch_size, device=device, preload_max_mb=preload_max_mb,
                             label=f"  {cand.name:<28} {label}"):
        if cap.featuremap.ndim != 4:
            raise BaseselError(f"{cand.name}: layer {cand.layer} gives shape {tuple(cap.featuremap.shape)}, "
                               f"not (N, C, H, W)")
        if featuremaps is not None:
            featuremaps(cap.featuremap.cpu().numpy(), labels[sl])
        pens.append(cap.penultimate.float().cpu().numpy())
        if cap.logits is not None:  # a headless model has no source softmax
            probs.append(torch.softmax(cap.logits.float(), dim=1).cpu().numpy())
    return np.concatenate(pens), (np.concatenate(probs) if probs else None), labels


def score_candidate(cand: Probed, probe: pd.DataFrame, *, device, batch_size: int, margin: float,
                    train: pd.DataFrame | None = None, baselines=FEATURE_SCORES) -> dict:
    """One candidate's scores: S1..S6 and every baseline on the probe rows (NAME@probe), one forward
    pass; with `train` (all training rows), the baselines on them too (NAME), a second pass. A score
    that does not apply is NOT_APPLICABLE, its reason under "not_applicable"."""
    acc = ScoreAccumulator(margin)
    pen, probs, labels = _pass(cand, probe, device=device, batch_size=batch_size, label="probe", featuremaps=acc.update)
    scores = acc.result()
    reasons = scores.pop("not_applicable", {})
    scores.update(_baselines(baselines, pen, labels, probs, PROBE_SUFFIX, reasons))
    if train is not None:
        pen, probs, labels = _pass(cand, train, device=device, batch_size=batch_size, label="train")
        scores.update(_baselines(baselines, pen, labels, probs, "", reasons))
    return {**scores, "not_applicable": reasons}


def _baselines(names, pen, labels, probs, suffix, reasons: dict) -> dict:
    """The baselines of one pass; one the model or its features leave undefined is NOT_APPLICABLE,
    its reason added to `reasons`."""
    from .science.transfer import NO_HEAD, compute_applicable

    out, why = {}, {}
    for name in names:
        if needs_probs(name) and probs is None:
            keys = part_columns(name) if name in POOLED else [name]  # a pooled score: its parts
            out.update(dict.fromkeys(keys, NOT_APPLICABLE))
            why.update(dict.fromkeys(keys, NO_HEAD))
        else:
            out.update(compute_applicable([name], pen, labels, probs, reasons=why))
    reasons.update({f"{k}{suffix}": v for k, v in why.items()})
    return {f"{k}{suffix}": v for k, v in out.items()}


def pooled(table: pd.DataFrame, reasons: list[dict]) -> pd.DataFrame:
    """The table with each pooled score (NCTI, ETran, on the probe set and on all training images)
    combined from its parts over the candidates ranked together, as its authors combine it over a
    candidate pool; NOT_APPLICABLE for a candidate a part does not apply to."""
    for name, (_, _, combine) in POOLED.items():
        for suffix in ("", PROBE_SUFFIX):
            columns = part_columns(name, suffix)
            if not all(c in table.columns for c in columns):
                continue
            values = as_numbers(table[columns])
            combined = combine({c.split(".", 1)[1].removesuffix(suffix): values[c].to_numpy(np.float64) for c in columns})
            table[name + suffix] = [NOT_APPLICABLE if np.isnan(v) else v for v in combined]
            for r, v in zip(reasons, combined):
                if np.isnan(v):
                    r[name + suffix] = "combined from parts, one of which does not apply"
    return table


def c56(table: pd.DataFrame, alpha: float) -> pd.Series:
    """(1 - alpha) S5' + alpha S6', each min-max scaled to [-1, 1] over the candidates and negated;
    NaN for a candidate S5 or S6 does not apply to."""
    from .science.analysis import c56_of, minmax_signed

    norm = minmax_signed(as_numbers(table[["S5", "S6"]]), ("S5", "S6"))
    return c56_of(norm["S5"], norm["S6"], alpha)


def c56_column(score: str, alpha: float, fitted: bool) -> str:
    """The column of rank's table that a requested C_56 name means: `C_56` is C_56 at the alpha in
    use; the leaderboard's `C_56(LOGO)` is, for a new task, C_56 at the alpha fitted on all of a
    run's groups (`fitted`: --analysis gave it); `C_56(0.574)` is `C_56` when that is the alpha."""
    from .science.analysis import PAPER_C56

    if score == C56[1]:
        if not fitted:
            raise BaseselError(f"{score} is C_56 at an alpha fitted on a workflow run's groups: give --analysis "
                               f"(its summary.json), or rank by C_56 at --alpha")
        return "C_56"
    if score == C56[0] and alpha == PAPER_C56["alpha"]:
        return "C_56"
    return score


def smaller_is_better(score: str) -> bool:
    """Whether a smaller value of `score` ranks a candidate higher."""
    return DIRECTION.get(score, 1) < 0


def rank(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """The table sorted best first by `by`, with a `rank` column (ties keep the input order)."""
    ascending = smaller_is_better(by)
    key = as_numbers(table[[by]])[by]
    out = table.iloc[np.argsort(key.to_numpy() if ascending else -key.to_numpy(), kind="stable")].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def read_analysis(path) -> tuple[float, str]:
    """(C_56 best alpha, leaderboard winner that rank can compute) of a workflow run's
    results/analysis/summary.json."""
    import json

    try:
        summary = json.loads(Path(path).read_text())
        alpha = float(summary["c56"]["best_alpha"])
        board = list(summary["leaderboard_by_weighted_tau"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise BaseselError(f"--analysis {path}: not a workflow run's summary.json ({type(exc).__name__}: {exc})") from None
    winner = next((s for s in board if s in RANKABLE), None)
    if winner is None:
        raise BaseselError(f"--analysis {path}: no score of its leaderboard can rank candidates here ({', '.join(board)})")
    return alpha, winner


def agreement(table: pd.DataFrame, by: str, scores) -> dict[str, float]:
    """Kendall's tau-b between the ranking by `by` and the ranking by each other score (each
    oriented so that larger is better): 1 where they agree on every pair of candidates. A score that
    does not apply to every candidate has none (it is left out), nor one that is the same for every
    candidate (tau is undefined), and there is none with one candidate."""
    values = as_numbers(table[[by, *[s for s in scores if s != by]]])
    ref = DIRECTION.get(by, 1) * values[by].to_numpy(np.float64)
    out = {}
    for s in scores:
        if s == by or len(table) < 2 or values[s].isna().any():
            continue
        other = DIRECTION.get(s, 1) * values[s].to_numpy(np.float64)
        tau = float(kendall_rows(ref[None, :], other[None, :])[0])
        if np.isfinite(tau):
            out[s] = tau
    return out


def run_rank(args) -> int:
    """`basesel rank` (cli.py parses its arguments): rank the candidates, write rank.tsv, rank.json
    and rank.svg to args.out, print the ranking and how each other score agrees with it."""
    from .compute.training import pick_device
    from .models.zoo import check_input, load_candidates
    from .science.analysis import PAPER_C56

    alpha, winner, requested = _requested(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    # Check every input before any model runs: the folder, then every candidate.
    rows = train_rows(args.data, args.probe_per_class)
    probe = probe_set(rows, args.probe_per_class, args.seed)
    candidates = [c for spec in args.model for c in load_candidates(spec, args.input_size)]
    for c in candidates:
        check_input(c)  # an input size a candidate cannot take is named before any candidate is scored
    names = [c.name for c in candidates]
    if len(set(names)) < len(names):
        for i, c in enumerate(candidates):
            c.name = f"{i + 1}:{c.name}"
    full = any(s in FEATURE_SCORES for s in requested)  # a baseline on every training image: a second pass
    print(f"probe set: {len(probe)} images, {probe.label.nunique()} classes from {args.data}"
          + (f"; all {len(rows)} training images for {', '.join(s for s in requested if s in FEATURE_SCORES)}"
             if full else "")
          + f"; device {device}", file=sys.stderr)
    records = []
    for c in candidates:
        scores = score_candidate(c, probe, device=device, batch_size=args.batch_size, margin=args.margin,
                                 train=rows if full else None)
        reasons = scores.pop("not_applicable")
        records.append({"model": c.name, "arch": c.attrs.get("arch", ""), "layer": c.layer,
                        "input_size": c.preprocess.input_size, "input": c.preprocess.describe(), **scores,
                        "_reasons": reasons})
    table = pooled(pd.DataFrame(records), [r["_reasons"] for r in records])
    # C_56 at the alpha in use; beside it, at the paper's alpha when that is another one
    for column, a in (("C_56", alpha), *([(C56[0], PAPER_C56["alpha"])] if alpha != PAPER_C56["alpha"] else [])):
        values = c56(table, a)
        table[column] = [NOT_APPLICABLE if np.isnan(v) else v for v in values]
        for reasons, v in zip(table._reasons, values):
            if np.isnan(v):
                reasons[column] = "built from S5 and S6, which do not apply"
    table["not_applicable"] = [describe_reasons(r) for r in table.pop("_reasons")]
    by, why = _ranked_by(args, table, requested, winner)
    _write_and_print(args, table, requested, by, why, alpha, len(probe))
    return 0


def _ranked_by(args, table: pd.DataFrame, requested: list, winner) -> tuple[str, str]:
    """The score the ranking rests on, and why: the first of --scores (which must apply to every
    candidate), else the first of the defaults (or of the run's leaderboard) that applies to all."""
    applies = {s: not table[s].isin([NOT_APPLICABLE]).any() for s in requested}
    if args.scores:
        if not applies[requested[0]]:
            left = table.model[table[requested[0]].isin([NOT_APPLICABLE])].tolist()
            raise BaseselError(f"{requested[0]} does not apply to {', '.join(left)} (rank.tsv's not_applicable says "
                               f"why); put a score that applies to every candidate first in --scores")
        return requested[0], "the first of --scores"
    first = next((s for s in requested if applies[s]), None)
    if first is None:
        raise BaseselError(f"none of {', '.join(requested)} applies to every candidate; choose scores with --scores")
    source = f"the leaderboard winner of {args.analysis}" if winner else "the paper's proposal"
    if first == requested[0]:
        return first, source
    skipped = ", ".join(s for s in requested[:requested.index(first)])
    return first, f"{source} first, but {skipped} does not apply to every candidate"


def _requested(args) -> tuple[float, str | None, list[str]]:
    """(C_56's alpha, the --analysis run's leaderboard winner or None, the scores to show, the first
    ranking), every name checked before any model is loaded."""
    from .science.analysis import PAPER_C56

    if args.alpha is not None and args.analysis is not None:
        raise BaseselError("give --alpha or --analysis, not both")
    alpha, winner = read_analysis(args.analysis) if args.analysis else (None, None)
    alpha = alpha if alpha is not None else (PAPER_C56["alpha"] if args.alpha is None else args.alpha)
    if not 0 <= alpha <= 1:
        raise BaseselError(f"--alpha must be in [0, 1], got {alpha}")
    requested = list(args.scores or ([winner, *[s for s in DEFAULT if s != winner]] if winner else DEFAULT))
    unknown = [s for s in requested if s not in RANKABLE]
    if unknown:
        raise BaseselError(f"unknown score(s) {', '.join(unknown)}; choose from {', '.join(RANKABLE)}")
    return alpha, winner, list(dict.fromkeys(c56_column(s, alpha, fitted=args.analysis is not None)
                                             for s in requested))


def _write_and_print(args, table: pd.DataFrame, requested: list, by: str, why: str, alpha: float,
                     probe_images: int) -> None:
    from .io import FLOAT_FORMAT, json_safe, write_json, write_tsv
    from .plots import rank_figure, save

    shown = [*dict.fromkeys([by, *requested]), *[s for s in table.columns if s in RANKABLE and s not in requested
                                                 and s != by]]
    ranked = rank(table, by)[["rank", "model", *shown, "arch", "layer", "input_size", "input", "not_applicable"]]
    agree = agreement(ranked, by, shown)
    out = Path(args.out)
    write_tsv(ranked, out / "rank.tsv", float_format=FLOAT_FORMAT)
    write_json({"ranked_by": by, "why": why, "alpha": alpha, "data": str(args.data), "probe_images": probe_images,
                "agreement_kendall_tau": json_safe(agree) if len(ranked) > 1 else None,
                "candidates": [json_safe(row) for row in ranked.to_dict(orient="records")]}, out / "rank.json")
    save(rank_figure(ranked.assign(**{by: as_numbers(ranked[[by]])[by]}), by), out / "rank.svg")
    for row in ranked.itertuples():
        print(f"{row.model}: {row.arch or 'basesel checkpoint'}, probed layer {row.layer}; input {row.input}"
              + (f"; not applicable: {row.not_applicable}" if row.not_applicable else ""))
    view = ranked[["rank", "model", *dict.fromkeys([by, *requested])]]
    with pd.option_context("display.width", 250, "display.max_columns", 12, "display.float_format", "{:.4g}".format):
        print(view.to_string(index=False))
    print(f"ranked by {by}, {why}")
    source = (f"the best alpha of {args.analysis}" if args.analysis else "--alpha" if args.alpha is not None
              else "the paper's alpha")
    print(f"C_56 = (1 - alpha) S5' + alpha S6' at alpha {alpha:g} ({source})"
          + (f"; {C56[0]} at the paper's alpha" if C56[0] in table.columns else ""))
    if len(ranked) < 2:
        print("agreement with that ranking: none with one candidate (a ranking of one orders nothing)")
    else:
        values = as_numbers(ranked[shown])
        left_out = [s for s in shown if s != by and s not in agree and values[s].isna().any()]
        constant = [s for s in shown if s != by and s not in agree and s not in left_out]
        print(f"agreement with that ranking (Kendall tau over the {len(ranked)} candidates; 1 = same order, "
              f"-1 = reversed): " + ", ".join(f"{s} {t:+.2f}" for s, t in agree.items())
              + (f"; none for {', '.join(left_out)} (not applicable to every candidate)" if left_out else "")
              + (f"; none for {', '.join(constant)} (the same for every candidate)" if constant else ""))
    print(f"all {len(shown)} scores in {out}/rank.tsv; also rank.json, rank.svg")
