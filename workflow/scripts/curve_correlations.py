"""Correlation of S1..S6 and the feature norm with validation accuracy across epochs (Figure 1)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel.experiments import curve_correlations, read_curves
    from basesel.io import write_tsv

    curves = {arch: read_curves(e, s) for arch, e, s in zip(smk.params.archs, smk.input.epochs, smk.input.scores)}
    write_tsv(curve_correlations(curves), smk.output[0], float_format="%.10g")


run(snakemake, main)
