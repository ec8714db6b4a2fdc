"""Training loss and validation accuracy per epoch of every base model of one architecture."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv

    logs = {name: read_tsv(p) for name, p in zip(smk.params.subsets, smk.input.epochs)}
    plots.save(plots.pretraining_curves(logs, smk.wildcards.arch), smk.output[0])


run(snakemake, main)
