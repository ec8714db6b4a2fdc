"""Training loss and validation accuracy per epoch of every base model of one architecture."""
from basesel.machinery.glue import run


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv

    logs = {name: read_tsv(p) for name, p in zip(smk.params.subsets, smk.input.epochs)}
    plots.save(plots.pretraining_curves(logs, smk.wildcards.arch), smk.output[0])


run(snakemake, main)
