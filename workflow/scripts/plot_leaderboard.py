"""Leaderboard of the paper's scores and the later literature's, by mean weighted tau and mean rho."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv

    plots.save(plots.leaderboard_figure(read_tsv(smk.input.leaderboard)), smk.output[0])


run(snakemake, main)
