"""The `basesel` command: scores of a featuremap file, and the analysis of any score table."""
from __future__ import annotations

import argparse
import json
import math
import sys

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
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (BaseselError, OSError) as exc:
        print(f"basesel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
