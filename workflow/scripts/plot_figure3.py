"""The paper's Figure 3: rho of every C_ij(alpha) against alpha."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv

    plots.save(plots.figure3(read_tsv(smk.input.sweep), read_tsv(smk.input.best)), smk.output[0])


run(snakemake, main)
