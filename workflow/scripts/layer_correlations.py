"""Rank correlation of S1..S6 with truncate fine-tuning accuracy across layers (Figure 5)."""
from basesel.machinery.glue import run


def main(smk):
    import pandas as pd

    from basesel.io import read_tsv, write_tsv
    from basesel.science.experiments import layer_correlations

    table = pd.concat([read_tsv(p).assign(arch=a) for a, p in zip(smk.params.archs, smk.input.tables)], ignore_index=True)
    write_tsv(layer_correlations(table), smk.output[0], float_format="%.10g")


run(snakemake, main)
