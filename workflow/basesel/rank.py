"""`basesel rank`: score a user's candidate models (candidates.py) on a user's image folder and rank them.

The probe set (`probe_per_class` training images per class) goes through each model once; hooks
take the last conv block's output (S1..S6), the classifier's input and the model's softmax (every
baseline of docs/metrics.md on the probe set, NAME@probe). A baseline on all training images (NAME,
as the workflow computes it) takes a second pass, only when asked for. C_56 combines S5 and S6 as
the paper does, min-max scaled over the candidates being ranked, so it needs at least two
candidates to mean anything.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .candidates import Candidate, last_linear
from .data import index_dataset, probe_rows
from .images import image_dataset, normalise
from .io import BaseselError
from .models import full_float32
from .progress import Progress
from .scores import C56, DIRECTION, METRICS, ScoreAccumulator
from .stats import kendall_rows
from .transfer import PROBE_SUFFIX, SCORES, compute

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


def _pass(cand: Candidate, rows: pd.DataFrame, *, device, batch_size: int, label: str, featuremaps=None,
          preload_max_mb: float = 2048):
    """One forward pass of a candidate over `rows`: the penultimate features (the last linear layer's
    input; the pooled last conv block where there is none, as in SqueezeNet) and the softmax of its
    outputs; the last conv block's featuremaps go to `featuremaps(batch, labels)` when given."""
    model = cand.model.eval().to(device)
    images = image_dataset(rows.path.tolist(), rows.label.to_numpy(), cand.input_size, preload_max_mb)
    labels = rows.label.to_numpy()
    captured: dict = {}
    hooks = [cand.layer.register_forward_hook(lambda m, i, o: captured.__setitem__("fm", o.detach()))]
    head = last_linear(model)
    if head is not None:
        hooks.append(head.register_forward_hook(lambda m, i, o: captured.__setitem__("pen", i[0].detach())))
    pens, probs, done = [], [], 0
    try:
        with torch.no_grad(), full_float32(), Progress(f"  {cand.name:<28} {label}", len(labels)) as progress:
            for x, _ in torch.utils.data.DataLoader(images, batch_size=batch_size, shuffle=False):
                out = model(normalise(x.to(device)))
                fm = captured["fm"]
                if cand.relu_after:
                    fm = torch.relu(fm)
                if fm.ndim != 4:
                    raise BaseselError(f"{cand.name}: layer {cand.layer_name} gives shape {tuple(fm.shape)}, not (N, C, H, W)")
                if featuremaps is not None:
                    featuremaps(fm.float().cpu().numpy(), labels[done:done + len(x)])
                pen = captured["pen"] if "pen" in captured else fm.mean(dim=(2, 3))
                pens.append(pen.float().cpu().numpy().reshape(len(x), -1))
                probs.append(torch.softmax(out.float().reshape(len(x), -1), dim=1).cpu().numpy())
                done += len(x)
                progress.update(len(x))
    finally:
        for h in hooks:
            h.remove()
    return np.concatenate(pens), np.concatenate(probs), labels


def score_candidate(cand: Candidate, probe: pd.DataFrame, *, device, batch_size: int, margin: float,
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
    import sys

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
    from .analysis import minmax_signed

    norm = minmax_signed(table, ("S5", "S6"))
    return (1 - alpha) * norm["S5"] + alpha * norm["S6"]


def c56_column(score: str, alpha: float, fitted: bool) -> str:
    """The column of rank's table that a requested C_56 name means: `C_56` is C_56 at the alpha in
    use; the leaderboard's `C_56(LOGO)` is, for a new task, C_56 at the alpha fitted on all of a
    run's groups (`fitted`: --analysis gave it); `C_56(0.574)` is `C_56` when that is the alpha."""
    from .analysis import PAPER_C56

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
