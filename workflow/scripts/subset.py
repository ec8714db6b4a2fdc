"""Cut one of the paper's class-wise or horizontal subsets out of the source pool."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.data.subsets import make_subset
    from basesel.io import read_tsv, write_tsv

    subset = make_subset(read_tsv(smk.input.index), smk.wildcards.subset, smk.params.seed)
    write_tsv(subset, smk.output[0])
    n = subset.groupby("split").size().to_dict()
    print(f"{smk.wildcards.subset}: {subset['class'].nunique()} classes, {n}", file=sys.stderr)


run(snakemake, main)
