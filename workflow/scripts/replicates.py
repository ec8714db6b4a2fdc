"""Every score's ranking quality per replicate and its spread over replicates, win rates, and the
conclusions that hold in every replicate."""
from pathlib import Path

from basesel.machinery.glue import run


def main(smk):
    from basesel.io import read_tsv, write_tables
    from basesel.science.replicates import across

    results = across([read_tsv(p) for p in smk.input.tables], alpha_step=smk.params.alpha_step)
    write_tables(results, Path(smk.output.summary).parent)


run(snakemake, main)
