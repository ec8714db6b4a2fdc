"""Sample images of every dataset, and the size of every source subset."""
from basesel.machinery.glue import run


def main(smk):
    import pandas as pd

    from basesel import plots
    from basesel.data.subsets import subset_summary
    from basesel.io import read_tsv, write_tsv

    indexes = {name: read_tsv(p) for name, p in zip(smk.params.datasets, smk.input.indexes)}
    plots.save(plots.data_montage(indexes, seed=smk.params.seed), smk.output.montage)
    rows = [subset_summary(name, read_tsv(p)) for name, p in zip(smk.params.subsets, smk.input.subsets)]
    write_tsv(pd.DataFrame(rows), smk.output.subsets)


run(snakemake, main)
