"""Correlations, the alpha sweep, best alphas, the C_56 summary and the leaderboard of the table."""
import sys
from pathlib import Path

from basesel.machinery.glue import run


def main(smk):
    from basesel.io import read_tsv, write_tables
    from basesel.science.analysis import EXACT, analyze, as_written

    results = analyze(read_tsv(smk.input.table), alpha_step=smk.params.alpha_step, n_boot=smk.params.bootstrap,
                      seed=smk.params.seed)
    write_tables(as_written(results), Path(smk.output[0]).parent, exact=EXACT)
    print(results["summary.json"], file=sys.stderr)


run(snakemake, main)
