"""The paper's Figure 2: Spearman rho of every metric per (architecture, target)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv

    plots.save(plots.figure2(read_tsv(smk.input.correlations)), smk.output[0])


run(snakemake, main)
