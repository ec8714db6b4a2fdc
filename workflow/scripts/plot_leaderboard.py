"""Leaderboard of the paper's scores and the later literature's, by mean weighted tau and mean rho."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402
from basesel import plots  # noqa: E402
from basesel.io import read_tsv  # noqa: E402


def main(smk):
    plots.leaderboard_figure(read_tsv(smk.input.leaderboard), smk.output[0])


run(snakemake, main)
