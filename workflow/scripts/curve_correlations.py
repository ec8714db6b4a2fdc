"""Correlation of S1..S6 and the feature norm with validation accuracy across epochs (Figure 1)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel.experiments import curve_correlations  # noqa: E402
from basesel.io import read_tsv, write_tsv  # noqa: E402


def main(smk):
    logs = {arch: read_tsv(p) for arch, p in zip(smk.params.archs, smk.input.logs)}
    write_tsv(curve_correlations(logs), smk.output[0], float_format="%.10g")


run(snakemake, main)
