"""The `basesel` command: scores of a featuremap file, and the analysis of any score table."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import BaseselError, __version__


def cmd_scores(args) -> int:
    """S1..S6 of a file holding featuremaps; the baselines of a file holding features; with both of
    one pair, the baselines on the featuremap file's probe rows too (NAME@probe), as the workflow."""
    import h5py

    from .io import json_safe
    from .science.featuremap_scores import scores_from_h5
    from .science.pair_scores import probe_scores
    from .science.transfer import baseline_scores

    featuremaps, features, probe_index = None, None, False
    for path in args.files:
        if not Path(path).is_file():
            raise BaseselError(f"no such file: {path}")
        with h5py.File(path, "r", locking=False) as f:
            if "featuremaps" not in f and "features" not in f:
                raise BaseselError(f"{path}: neither featuremaps nor features (is it a basesel featuremap or features file?)")
            if "featuremaps" in f:
                featuremaps, probe_index = path, "probe_index" in f
            if "features" in f:
                features = path
    # scores only: the "seconds" records are measurements
    if featuremaps is not None and features is not None and probe_index:
        result = probe_scores(featuremaps, features, margin=args.margin, batch_size=args.batch_size)[0]
    elif featuremaps is not None:
        result = scores_from_h5(featuremaps, margin=args.margin, batch_size=args.batch_size)
    else:
        result = {}
    if features is not None:
        result.update({k: v for k, v in baseline_scores(features).items() if k != "seconds"})
    print(json.dumps(json_safe(result), indent=2))
    return 0


def cmd_analyze(args) -> int:
    """The workflow's analysis of any score table."""
    from .io import read_tsv, write_tables
    from .science.analysis import EXACT, analyze, as_written

    try:
        table = read_tsv(args.table)
    except FileNotFoundError:
        raise BaseselError(f"no such table: {args.table}") from None
    results = analyze(table, alpha_step=args.alpha_step, n_boot=args.bootstrap, seed=args.seed)
    write_tables(as_written(results), args.outdir, exact=EXACT)
    c = results["summary.json"]["c56"]
    print(f"wrote {args.outdir}/: {' '.join(results)}")
    print(f"C_56: best alpha {c['best_alpha']}, mean rho {c['mean_rho']}, leave-one-group-out rho {c['leave_one_group_out_rho']}")
    return 0


def cmd_rank(args) -> int:
    """Rank candidate models for an image folder by the paper's scores and every baseline."""
    from .rank import run_rank

    return run_rank(args)


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
                   help="a candidate; repeat. timm:NAME=WEIGHTS or torchvision:NAME=WEIGHTS (a .safetensors file or a "
                        "state dict; NAME=WEIGHTS is torchvision's), a snapshot folder (timm's / the Hub's layout: "
                        "config.json and model.safetensors), a zoo file (.yaml: a list of zoo entries, as the "
                        "config's zoo:), or a basesel checkpoint (model.pt). Nothing is downloaded")
    r.add_argument("--scores", nargs="+", default=None,
                   help="scores to report first; the first ranks. Default: with --analysis, that run's leaderboard "
                        "winner; else C_56 LogME@probe S1..S6. NAME@probe: a baseline on the probe set; NAME: on "
                        "every training image (a second pass)")
    r.add_argument("--alpha", type=float, default=None, help="C_56 weight of S6 (default 0.574, the paper's)")
    r.add_argument("--analysis", help="a workflow run's results/analysis/summary.json: its C_56 alpha, and its "
                                      "leaderboard winner to rank by")
    r.add_argument("--probe-per-class", type=int, default=10)
    r.add_argument("--input-size", type=int, help="input pixels of candidates whose weights carry no data config "
                                                    "(torchvision weights; default 224); a timm model's, a snapshot's "
                                                    "or a checkpoint's own size is used")
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
