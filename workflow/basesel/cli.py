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
    from .scores import scores_from_h5

    result = scores_from_h5(args.file, margin=args.margin, batch_size=args.batch_size)
    print(json.dumps(_json_safe(result), indent=2))
    return 0


def cmd_analyze(args) -> int:
    from .analysis import analyze
    from .io import read_tsv

    try:
        table = read_tsv(args.table)
    except FileNotFoundError:
        raise BaseselError(f"no such table: {args.table}") from None
    summary = analyze(table, args.outdir, alpha_step=args.alpha_step, n_boot=args.bootstrap, seed=args.seed)
    c = summary["c56"]
    print(f"wrote {args.outdir}/: correlations.tsv alpha_sweep.tsv best_alpha.tsv c56_summary.tsv summary.json")
    print(f"C_56: best alpha {c['best_alpha']}, mean rho {c['mean_rho']}, leave-one-group-out rho {c['leave_one_group_out_rho']}")
    return 0


def cmd_rank(args) -> int:
    import pandas as pd

    from . import rank as r
    from .io import write_json, write_tsv
    from .training import pick_device

    if args.alpha is not None and args.analysis is not None:
        raise BaseselError("give --alpha or --analysis, not both")
    alpha = r.alpha_from_analysis(args.analysis) if args.analysis else (0.574 if args.alpha is None else args.alpha)
    if not 0 <= alpha <= 1:
        raise BaseselError(f"--alpha must be in [0, 1], got {alpha}")
    unknown = [s for s in args.scores if s not in r.SCORES]
    if unknown:
        raise BaseselError(f"unknown score(s) {', '.join(unknown)}; choose from {', '.join(r.SCORES)}")
    torch_threads(args.threads)
    device = pick_device(args.device)
    # Check every input before any model runs: the folder, then every candidate.
    probe = r.probe_set(args.data, args.probe_per_class, args.seed)
    candidates = [r.load_candidate(spec, args.input_size) for spec in args.model]
    names = [c.name for c in candidates]
    if len(set(names)) < len(names):
        for i, c in enumerate(candidates):
            c.name = f"{i + 1}:{c.name}"
    print(f"probe set: {len(probe)} images, {probe.label.nunique()} classes from {args.data}; device {device}", file=sys.stderr)
    rows = []
    for c in candidates:
        s = r.score_candidate(c, probe, device=device, batch_size=args.batch_size, margin=args.margin)
        rows.append({"model": c.name, "layer": c.layer_name, "input_size": c.input_size, **s})
    table = pd.DataFrame(rows)
    table["C_56"] = r.c56(table, alpha)
    by = args.scores[0]
    ranked = r.rank(table, by)[["rank", "model", *args.scores, "layer", "input_size"]]
    out = Path(args.out)
    write_tsv(ranked, out / "rank.tsv", float_format="%.6g")
    write_json({"ranked_by": by, "alpha": alpha, "data": str(args.data), "probe_images": len(probe),
                "candidates": [_json_safe(row) for row in ranked.to_dict(orient="records")]}, out / "rank.json")
    r.figure(ranked, by, out / "rank.svg")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(ranked.drop(columns=["layer", "input_size"]).to_string(index=False))
    print(f"ranked by {by}" + (f" (alpha {alpha})" if by == "C_56" else "") + f"; wrote {out}/rank.tsv, rank.json, rank.svg")
    return 0


def torch_threads(n):
    import torch

    if n:
        torch.set_num_threads(n)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="basesel", description=__doc__)
    p.add_argument("--version", action="version", version=f"basesel {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("scores", help="print S1..S6 of a featuremap HDF5 file as JSON")
    s.add_argument("file", help="HDF5 with datasets featuremaps (N,C,H,W) and labels (N,)")
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
    r.add_argument("--scores", nargs="+", default=["C_56", "LogME", "S1", "S2", "S3", "S4", "S5", "S6"],
                   help="scores to report; the first ranks (default: C_56 LogME S1..S6)")
    r.add_argument("--alpha", type=float, default=None, help="C_56 weight of S6 (default 0.574, the paper's)")
    r.add_argument("--analysis", help="take alpha from a workflow run's results/analysis/summary.json")
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
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (BaseselError, OSError, RuntimeError) as exc:
        print(f"basesel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
