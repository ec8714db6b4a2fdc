"""Correlation of S1..S6 and the feature norm with validation accuracy across epochs (Figure 1)."""
from basesel.machinery.glue import run


def main(smk):
    from basesel.io import write_tsv
    from basesel.science.experiments import curve_correlations, read_curves

    curves = {arch: read_curves(e, s) for arch, e, s in zip(smk.params.archs, smk.input.epochs, smk.input.scores)}
    write_tsv(curve_correlations(curves), smk.output[0], float_format="%.10g")


run(snakemake, main)
