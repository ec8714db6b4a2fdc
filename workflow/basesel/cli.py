"""The `basesel` command: scores of a featuremap file, and the analysis of any score table."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from . import __version__
from .io import BaseselError


def _json_safe(d: dict) -> dict:
    # JSON has no infinity: S3 is +inf when intra-class scatter is 0; say so as a string.
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in d.items()}


def cmd_scores(args) -> int:
    """S1..S6 of a file holding featuremaps; the baselines of a file holding features; with both of
    one pair, the baselines on the featuremap file's probe rows too (NAME@probe), as the workflow."""
    import h5py

    from .scores import scores_from_h5
    from .transfer import AGNOSTIC, BASELINES, PROBE_SUFFIX, baseline_scores

    result, probe_rows, features = {}, None, None  # scores only: "seconds" records are measurements
    for path in args.files:
        if not Path(path).is_file():
            raise BaseselError(f"no such file: {path}")
        with h5py.File(path, "r", locking=False) as f:
            if "featuremaps" not in f and "features" not in f:
                raise BaseselError(f"{path}: neither featuremaps nor features (is it a basesel featuremap or features file?)")
            if "featuremaps" in f and "probe_index" in f:
                probe_rows = f["probe_index"][:]
            kinds = {"featuremaps": "featuremaps" in f, "features": "features" in f}
        if kinds["featuremaps"]:
            result.update(scores_from_h5(path, margin=args.margin, batch_size=args.batch_size))
        if kinds["features"]:
            features = path
            result.update({k: v for k, v in baseline_scores(path).items() if k != "seconds"})
    if features is not None and probe_rows is not None:
        names = [b for b in BASELINES if b in result and b not in AGNOSTIC]
        probe = baseline_scores(features, names, rows=probe_rows)
        result.update({f"{k}{PROBE_SUFFIX}": v for k, v in probe.items() if k != "seconds"})
    print(json.dumps(_json_safe(result), indent=2))
    return 0


def cmd_analyze(args) -> int:
    """The workflow's analysis of any score table."""
    from .analysis import EXACT, analyze
    from .io import read_tsv, write_tables

    try:
        table = read_tsv(args.table)
    except FileNotFoundError:
        raise BaseselError(f"no such table: {args.table}") from None
    results = analyze(table, alpha_step=args.alpha_step, n_boot=args.bootstrap, seed=args.seed)
    write_tables(results, args.outdir, exact=EXACT)
    c = results["summary.json"]["c56"]
    print(f"wrote {args.outdir}/: {' '.join(results)}")
    print(f"C_56: best alpha {c['best_alpha']}, mean rho {c['mean_rho']}, leave-one-group-out rho {c['leave_one_group_out_rho']}")
    return 0


def cmd_rank(args) -> int:
    """Rank candidate models for an image folder by the paper's scores and every baseline."""
    import pandas as pd

    from . import rank as r
    from .analysis import PAPER_C56
    from .candidates import load_candidate
    from .io import write_json, write_tsv
    from .plots import rank_figure, save
    from .scores import C56
    from .training import pick_device
    from .transfer import SCORES

    if args.alpha is not None and args.analysis is not None:
        raise BaseselError("give --alpha or --analysis, not both")
    alpha, winner = r.read_analysis(args.analysis) if args.analysis else (None, None)
    alpha = alpha if alpha is not None else (PAPER_C56["alpha"] if args.alpha is None else args.alpha)
    if not 0 <= alpha <= 1:
        raise BaseselError(f"--alpha must be in [0, 1], got {alpha}")
    requested = list(args.scores or ([winner, *[s for s in r.DEFAULT if s != winner]] if winner else r.DEFAULT))
    unknown = [s for s in requested if s not in r.RANKABLE]
    if unknown:
        raise BaseselError(f"unknown score(s) {', '.join(unknown)}; choose from {', '.join(r.RANKABLE)}")
    requested = list(dict.fromkeys(r.c56_column(s, alpha, fitted=args.analysis is not None) for s in requested))
    torch_threads(args.threads)
    device = pick_device(args.device)
    # Check every input before any model runs: the folder, then every candidate.
    rows = r.train_rows(args.data, args.probe_per_class)
    probe = r.probe_set(rows, args.probe_per_class, args.seed)
    candidates = [load_candidate(spec, args.input_size) for spec in args.model]
    names = [c.name for c in candidates]
    if len(set(names)) < len(names):
        for i, c in enumerate(candidates):
            c.name = f"{i + 1}:{c.name}"
    full = any(s in SCORES for s in requested)  # a baseline on every training image: a second pass
    print(f"probe set: {len(probe)} images, {probe.label.nunique()} classes from {args.data}"
          + (f"; all {len(rows)} training images for {', '.join(s for s in requested if s in SCORES)}" if full else "")
          + f"; device {device}", file=sys.stderr)
    table = pd.DataFrame([{"model": c.name, "layer": c.layer_name, "input_size": c.input_size,
                           **r.score_candidate(c, probe, device=device, batch_size=args.batch_size, margin=args.margin,
                                               train=rows if full else None)} for c in candidates])
    # C_56 at the alpha in use; beside it, at the paper's alpha when that is another one
    table["C_56"] = r.c56(table, alpha)
    if alpha != PAPER_C56["alpha"]:
        table[C56[0]] = r.c56(table, PAPER_C56["alpha"])
    by = requested[0]
    shown = [*requested, *[s for s in table.columns if s in r.RANKABLE and s not in requested]]
    ranked = r.rank(table, by)[["rank", "model", *shown, "layer", "input_size"]]
    agree = r.agreement(ranked, by, shown)
    out = Path(args.out)
    write_tsv(ranked, out / "rank.tsv", float_format="%.6g")
    why = (f"the leaderboard winner of {args.analysis}" if winner and not args.scores else
           "the first of --scores" if args.scores else "the paper's proposal")
    write_json({"ranked_by": by, "why": why, "alpha": alpha, "data": str(args.data), "probe_images": len(probe),
                "agreement_kendall_tau": _json_safe(agree),
                "candidates": [_json_safe(row) for row in ranked.to_dict(orient="records")]}, out / "rank.json")
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


def torch_threads(n):
    """Set torch's CPU threads when the user asks for a number."""
    import torch

    if n:
        torch.set_num_threads(n)


def build_parser() -> argparse.ArgumentParser:
    """The command line of `basesel`."""
    p = argparse.ArgumentParser(prog="basesel", description=__doc__)
    p.add_argument("--version", action="version", version=f"basesel {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("scores", help="print the scores of featuremap and features HDF5 files as JSON")
    s.add_argument("files", nargs="+", metavar="FILE",
                   help="HDF5 with datasets featuremaps (N,C,H,W) and labels (N,) for S1..S6, and/or features (M,D), "
                        "feature_labels (M,) [feature_split, source_probs] for the baselines")
    s.add_argument("--margin", type=float, default=1.0, help="S6 margin (default 1.0, the paper's)")
    s.add_argument("--batch-size", type=int, default=64)
    s.set_defaults(func=cmd_scores)

    a = sub.add_parser("analyze", help="correlations, alpha sweep and C_56 of a score table")
    a.add_argument("table", help="TSV with columns arch, source, target, S1..S6, accuracy")
    a.add_argument("outdir")
    a.add_argument("--alpha-step", type=float, default=0.001)
    a.add_argument("--bootstrap", type=int, default=1000)
    a.add_argument("--seed", type=int, default=0)
    a.set_defaults(func=cmd_analyze)

    r = sub.add_parser("rank", help="rank candidate models for an image folder without fine-tuning")
    r.add_argument("--data", required=True, help="ImageFolder root (class folders), or a folder with train/ inside")
    r.add_argument("--model", action="append", required=True, metavar="SPEC",
                   help="a basesel checkpoint (model.pt), or ARCH=WEIGHTS with a torchvision architecture and a state dict; repeat")
    r.add_argument("--scores", nargs="+", default=None,
                   help="scores to report first; the first ranks. Default: with --analysis, that run's leaderboard "
                        "winner; else C_56 LogME@probe S1..S6. NAME@probe: a baseline on the probe set; NAME: on "
                        "every training image (a second pass)")
    r.add_argument("--alpha", type=float, default=None, help="C_56 weight of S6 (default 0.574, the paper's)")
    r.add_argument("--analysis", help="a workflow run's results/analysis/summary.json: its C_56 alpha, and its "
                                      "leaderboard winner to rank by")
    r.add_argument("--probe-per-class", type=int, default=10)
    r.add_argument("--input-size", type=int, help="input pixels (default: the checkpoint's, or 224 for torchvision weights)")
    r.add_argument("--margin", type=float, default=1.0, help="S6 margin")
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    r.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's choice)")
    r.add_argument("--seed", type=int, default=0, help="seed of the probe set")
    r.add_argument("--out", default="rank", help="folder for rank.tsv, rank.json, rank.svg (default ./rank)")
    r.set_defaults(func=cmd_rank)
    return p


def main(argv=None) -> int:
    """Run a `basesel` command; errors in the user's input end it with a message and status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (BaseselError, OSError, RuntimeError) as exc:
        print(f"basesel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
