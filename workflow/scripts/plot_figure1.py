"""The paper's Figure 1: validation accuracy and standardised S1..S6 and feature norm per epoch."""
from basesel.machinery.glue import run


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv
    from basesel.science.experiments import read_curves

    curves = {arch: read_curves(e, s) for arch, e, s in zip(smk.params.archs, smk.input.epochs, smk.input.scores)}
    plots.save(plots.figure1(curves, read_tsv(smk.input.correlations)), smk.output[0])


run(snakemake, main)
