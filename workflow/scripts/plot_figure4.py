"""The paper's Figure 4: truncate fine-tuning accuracy against the conv layer cut after."""
from basesel.machinery.glue import run


def main(smk):
    import pandas as pd

    from basesel import plots
    from basesel.io import read_tsv

    table = pd.concat([read_tsv(p).assign(arch=a) for a, p in zip(smk.params.archs, smk.input.tables)], ignore_index=True)
    plots.save(plots.figure4(table), smk.output[0])


run(snakemake, main)
