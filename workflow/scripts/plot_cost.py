"""Each score's ranking quality (mean weighted tau) against what it costs per (base model, target)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv

    plots.save(plots.cost_figure(read_tsv(smk.input.leaderboard), read_tsv(smk.input.costs)), smk.output[0])


run(snakemake, main)
