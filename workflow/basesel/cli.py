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
    """The workflow's analysis of any score table: each ground truth on its own (in OUTDIR, or in
    OUTDIR/TRUTH/ when there are several), every name and cell checked before any is computed."""
    from .io import write_tables
    from .science import score_table
    from .science.analysis import EXACT, analyze, as_written, check_table

    table = score_table.resolve(score_table.read(args.table), model=args.model, groups=args.group_by,
                                truths=args.truth, scores=args.scores, lower=args.lower_is_better or (),
                                ignore=args.ignore or (), form=args.form)
    for layout in table.layouts:  # every bad cell of every ground truth named before any computation
        check_table(table.df, table.metrics, layout)
    for note in table.notes:
        print(note)
    for layout in table.layouts:
        outdir = Path(args.outdir) / (layout.truth if len(table.layouts) > 1 else "")
        results = analyze(table.df, alpha_step=args.alpha_step, n_boot=args.bootstrap, seed=args.seed,
                          layout=layout, metrics=table.metrics, win_rates=True)
        write_tables(as_written(results), outdir, exact=EXACT)
        print(_analysis_report(results, layout, outdir))
    return 0


def _analysis_report(results: dict, layout, outdir: Path) -> str:
    """What `basesel analyze` says of one ground truth: what was analysed, the leaderboard, what was
    left out and why."""
    s = results["summary.json"]
    board = results["leaderboard.tsv"]
    lines = [f"{layout.truth}: {s['n_groups']} group(s) by {', '.join(layout.groups) or 'nothing (one group)'}, "
             f"{s['n_rows']} rows, {len(board)} scores ranked; wrote {outdir}/: {' '.join(results)}",
             "  leaderboard by mean weighted tau over groups [95% bootstrap interval], mean rho, share of groups won:"]
    for r in board.itertuples():
        lines.append(f"  {r.rank_by_weighted_tau:3d}. {r.score:24s} {r.mean_weighted_tau:6.3f} [{r.wtau_lo:6.3f}, {r.wtau_hi:6.3f}]"
                     f"  rho {r.mean_rho:6.3f}  wins {r.wins:4.0%}  ({r.groups_defined} groups)")
    chosen = results["picks.tsv"]
    if len(board):  # what the leading score would choose in each group, and what it would lose
        top = chosen[chosen.score == board.score.iloc[0]]
        lines.append(f"  {board.score.iloc[0]} picks, per group (its {layout.truth}; the best; regret): "
                     + "; ".join(f"{r.group}: {r.picked or '-'} ({r.picked_truth:.4g}; {r.best} {r.best_truth:.4g}; "
                                 f"{r.regret:.4g})" for r in top.itertuples()))
    if "c56" in s:
        c = s["c56"]
        lines.append(f"  C_56: best alpha {c['best_alpha']}, mean rho {c['mean_rho']}, leave-one-group-out rho "
                     f"{c['leave_one_group_out_rho']}")
    else:
        lines.append("  no S5 and S6 in the table: the alpha sweep and C_56 are not made")
    for group, why in s.get("groups_skipped", {}).items():
        lines.append(f"  skipped group {group}: {why}")
    if s.get("rows_without_truth"):
        lines.append(f"  left out: {s['rows_without_truth']} row(s) without a {layout.truth} value")
    for score, counts in s.get("models_without_value", {}).items():
        lines.append(f"  left out of {score}: {sum(counts.values())} model(s) without a value, in "
                     + ", ".join(f"{g} ({n})" for g, n in counts.items()))
    for score, where in s.get("too_few_values", {}).items():
        lines.append(f"  {score} not ranked in {', '.join(where)}: fewer than 3 models have a value")
    for score, where in s.get("not_applicable", {}).items():
        lines.append(f"  {score} does not apply to a model of {', '.join(where)}: left out there")
    return "\n".join(lines)


def cmd_rank(args) -> int:
    """Rank candidate models for an image folder by the paper's scores and every baseline."""
    from .rank import run_rank

    return run_rank(args)


def build_parser() -> argparse.ArgumentParser:
    """The command line of `basesel`."""
    from .science.featuremap_scores import PAPER_ALPHA

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

    a = sub.add_parser("analyze", help="how well each score of any table ranks models: every ranking measure with "
                                       "bootstrap intervals, the leaderboard, win rates across groups (and the alpha "
                                       "sweep and C_56 where the table has S5 and S6)")
    a.add_argument("table", help="a TSV (or .csv): a row per model and group with a column per score (wide), or a row "
                                 "per model, group and score with columns score and value (long), and the ground truth")
    a.add_argument("outdir")
    a.add_argument("--model", help="the column naming the model (default: model, else source)")
    a.add_argument("--group-by", nargs="*", metavar="COLUMN",
                   help="the columns whose values make a group; correlations are taken across the models of a group "
                        "(default: arch target, else target; none: the whole table is one group)")
    a.add_argument("--truth", nargs="+", metavar="COLUMN",
                   help="ground-truth columns (fine-tuned accuracy), each analysed on its own (default: accuracy)")
    a.add_argument("--scores", nargs="+", metavar="COLUMN", help="the score columns (default: every other column)")
    a.add_argument("--lower-is-better", nargs="+", metavar="SCORE",
                   help="scores for which a smaller value is better, beside the paper's S2, S4, S5, S6")
    a.add_argument("--ignore", nargs="+", metavar="COLUMN", help="columns that are neither scores nor keys")
    a.add_argument("--form", choices=("auto", "wide", "long"), default="auto",
                   help="auto: long when the table has columns score and value")
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
    r.add_argument("--alpha", type=float, default=None,
                   help=f"C_56 weight of S6 (default {PAPER_ALPHA:g}, the paper's)")
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
