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
from .science.featuremap_scores import C56, DIRECTION, METRICS, ScoreAccumulator
from .science.stats import kendall_rows
from .science.transfer import PROBE_SUFFIX, SCORES, compute

# What `--scores` may name: the paper's, and every baseline on the probe set or on all training images.
RANKABLE = ("C_56", *C56, *METRICS, *[b + PROBE_SUFFIX for b in SCORES], *SCORES)
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
        probs.append(torch.softmax(cap.logits.float(), dim=1).cpu().numpy())
    return np.concatenate(pens), np.concatenate(probs), labels


def score_candidate(cand: Probed, probe: pd.DataFrame, *, device, batch_size: int, margin: float,
                    train: pd.DataFrame | None = None, baselines=tuple(SCORES)) -> dict:
    """One candidate's scores: S1..S6 and every baseline on the probe rows (NAME@probe), one forward
    pass; with `train` (all training rows), the baselines on them too (NAME), a second pass."""
    acc = ScoreAccumulator(margin)
    pen, probs, labels = _pass(cand, probe, device=device, batch_size=batch_size, label="probe", featuremaps=acc.update)
    scores = acc.result()
    scores.update(_baselines(cand, baselines, pen, labels, probs, PROBE_SUFFIX))
    if train is not None:
        pen, probs, labels = _pass(cand, train, device=device, batch_size=batch_size, label="train")
        scores.update(_baselines(cand, baselines, pen, labels, probs, ""))
    return scores


def _baselines(cand, names, pen, labels, probs, suffix) -> dict:
    """The baselines of one pass; one that the features make undefined is NaN, with a warning naming it."""
    out = {}
    for name in names:
        try:
            out[f"{name}{suffix}"] = compute([name], pen, labels, probs)[name]
        except BaseselError as exc:
            print(f"basesel: warning: {cand.name}: {name}{suffix} is undefined here ({exc})", file=sys.stderr)
            out[f"{name}{suffix}"] = float("nan")
    return out


def c56(table: pd.DataFrame, alpha: float) -> pd.Series:
    """(1 - alpha) S5' + alpha S6', each min-max scaled to [-1, 1] over the candidates and negated."""
    from .science.analysis import minmax_signed

    norm = minmax_signed(table, ("S5", "S6"))
    return (1 - alpha) * norm["S5"] + alpha * norm["S6"]


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
    out = table.sort_values(by, ascending=ascending, kind="stable").reset_index(drop=True)
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
    oriented so that larger is better): 1 where they agree on every pair of candidates."""
    ref = DIRECTION.get(by, 1) * table[by].to_numpy(np.float64)
    out = {}
    for s in scores:
        if s == by:
            continue
        other = DIRECTION.get(s, 1) * table[s].to_numpy(np.float64)
        out[s] = float(kendall_rows(ref[None, :], other[None, :])[0])
    return out


def run_rank(args) -> int:
    """`basesel rank` (cli.py parses its arguments): rank the candidates, write rank.tsv, rank.json
    and rank.svg to args.out, print the ranking and how each other score agrees with it."""
    from .compute.training import pick_device
    from .io import json_safe, write_json, write_tsv
    from .models.zoo import load_candidate
    from .plots import rank_figure, save
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
    requested = list(dict.fromkeys(c56_column(s, alpha, fitted=args.analysis is not None) for s in requested))
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    # Check every input before any model runs: the folder, then every candidate.
    rows = train_rows(args.data, args.probe_per_class)
    probe = probe_set(rows, args.probe_per_class, args.seed)
    candidates = [load_candidate(spec, args.input_size) for spec in args.model]
    names = [c.name for c in candidates]
    if len(set(names)) < len(names):
        for i, c in enumerate(candidates):
            c.name = f"{i + 1}:{c.name}"
    full = any(s in SCORES for s in requested)  # a baseline on every training image: a second pass
    print(f"probe set: {len(probe)} images, {probe.label.nunique()} classes from {args.data}"
          + (f"; all {len(rows)} training images for {', '.join(s for s in requested if s in SCORES)}" if full else "")
          + f"; device {device}", file=sys.stderr)
    table = pd.DataFrame([{"model": c.name, "layer": c.layer, "input_size": c.preprocess.input_size,
                           **score_candidate(c, probe, device=device, batch_size=args.batch_size, margin=args.margin,
                                             train=rows if full else None)} for c in candidates])
    # C_56 at the alpha in use; beside it, at the paper's alpha when that is another one
    table["C_56"] = c56(table, alpha)
    if alpha != PAPER_C56["alpha"]:
        table[C56[0]] = c56(table, PAPER_C56["alpha"])
    by = requested[0]
    shown = [*requested, *[s for s in table.columns if s in RANKABLE and s not in requested]]
    ranked = rank(table, by)[["rank", "model", *shown, "layer", "input_size"]]
    agree = agreement(ranked, by, shown)
    out = Path(args.out)
    write_tsv(ranked, out / "rank.tsv", float_format="%.6g")
    why = (f"the leaderboard winner of {args.analysis}" if winner and not args.scores else
           "the first of --scores" if args.scores else "the paper's proposal")
    write_json({"ranked_by": by, "why": why, "alpha": alpha, "data": str(args.data), "probe_images": len(probe),
                "agreement_kendall_tau": json_safe(agree),
                "candidates": [json_safe(row) for row in ranked.to_dict(orient="records")]}, out / "rank.json")
    save(rank_figure(ranked, by), out / "rank.svg")
    with pd.option_context("display.width", 250, "display.max_columns", 12, "display.float_format", "{:.4g}".format):
        print(ranked[["rank", "model", *requested]].to_string(index=False))
    print(f"ranked by {by}, {why}")
    source = (f"the best alpha of {args.analysis}" if args.analysis else "--alpha" if args.alpha is not None
              else "the paper's alpha")
    print(f"C_56 = (1 - alpha) S5' + alpha S6' at alpha {alpha:g} ({source})"
          + (f"; {C56[0]} at the paper's alpha" if C56[0] in table.columns else ""))
    print(f"agreement with that ranking (Kendall tau over the {len(ranked)} candidates; 1 = same order, "
          f"-1 = reversed): " + ", ".join(f"{s} {t:+.2f}" for s, t in agree.items()))
    print(f"all {len(shown)} scores in {out}/rank.tsv; also rank.json, rank.svg")
    return 0
