"""S1..S6 against fine-tuned accuracy for one architecture."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv

    plots.save(plots.scores_vs_accuracy(read_tsv(smk.input.table), smk.wildcards.arch), smk.output[0])


run(snakemake, main)
