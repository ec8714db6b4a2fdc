"""The paper's Figure 5: Spearman rho between each metric and truncate fine-tuning accuracy across layers."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv

    plots.save(plots.figure5(read_tsv(smk.input.correlations)), smk.output[0])


run(snakemake, main)
