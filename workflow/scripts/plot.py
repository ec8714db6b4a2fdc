"""One figure drawn from tables: plots.FIGURES[params.figure], called with the rule's named inputs
read as tables and its wildcards (the figures that one table or two make; plots.smk)."""
from basesel.machinery.glue import run


def main(smk):
    from basesel import plots
    from basesel.io import read_tsv

    tables = {name: read_tsv(path) for name, path in smk.input.items()}
    plots.save(plots.FIGURES[smk.params.figure](**tables, **dict(smk.wildcards.items())), smk.output[0])


run(snakemake, main)
