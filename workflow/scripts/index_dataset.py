"""Index a dataset folder and validate it: splits, classes, class sizes, every image readable."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.data import tvdatasets
    from basesel.data.folders import index_dataset
    from basesel.io import write_tsv

    splits = list(smk.params.splits)
    # A torchvision target's images and split come from its annotation files, not from folders.
    listing = tvdatasets.index(smk.params.torchvision, smk.input.root, smk.params.seed) if smk.params.torchvision else None
    index = index_dataset(smk.input.root, tuple(splits), verify=smk.config["data"]["verify"], processes=smk.threads,
                          listing=listing)
    write_tsv(index, smk.output[0])
    counts = index.groupby("split").size().to_dict()
    print(f"{smk.input.root}: {index['class'].nunique()} classes, images per split {counts}", file=sys.stderr)


run(snakemake, main)
