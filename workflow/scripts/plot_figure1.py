"""The paper's Figure 1: validation accuracy and standardised S1..S6 and feature norm per epoch."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel import plots  # noqa: E402
from basesel.io import read_tsv  # noqa: E402


def main(smk):
    logs = {arch: read_tsv(p) for arch, p in zip(smk.params.archs, smk.input.logs)}
    plots.figure1(logs, read_tsv(smk.input.correlations), smk.output[0])


run(snakemake, main)
