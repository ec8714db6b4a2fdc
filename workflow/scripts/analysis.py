"""Correlations, the alpha sweep, best alphas, the C_56 summary and the leaderboard of the table."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel.analysis import EXACT, analyze
    from basesel.io import read_tsv, write_tables

    results = analyze(read_tsv(smk.input.table), alpha_step=smk.params.alpha_step, n_boot=smk.params.bootstrap,
                      seed=smk.params.seed)
    write_tables(results, Path(smk.output[0]).parent, exact=EXACT)
    print(results["summary.json"], file=sys.stderr)


run(snakemake, main)
