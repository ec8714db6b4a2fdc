"""The paper's Figure 1: validation accuracy and standardised S1..S6 and feature norm per epoch."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel import plots
    from basesel.experiments import read_curves
    from basesel.io import read_tsv

    curves = {arch: read_curves(e, s) for arch, e, s in zip(smk.params.archs, smk.input.epochs, smk.input.scores)}
    plots.save(plots.figure1(curves, read_tsv(smk.input.correlations)), smk.output[0])


run(snakemake, main)
