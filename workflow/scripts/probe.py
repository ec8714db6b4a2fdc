"""Draw a target's probe set: probe_per_class training images per class, seeded."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.data.subsets import probe_table
    from basesel.io import read_tsv, write_tsv

    probe = probe_table(read_tsv(smk.input.index), smk.params.probe_per_class, smk.params.seed)
    write_tsv(probe, smk.output[0])
    print(f"{smk.wildcards.target}: {len(probe)} probe images, {probe['class'].nunique()} classes", file=sys.stderr)


run(snakemake, main)
