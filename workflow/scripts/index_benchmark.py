"""Index a target of the field's benchmarks (data.benchmarks: a torchvision layout read by a
benchmark's split and label rule) and validate it: classes, class sizes, every image readable."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.data import benchmarks
    from basesel.data.folders import index_dataset
    from basesel.io import write_tsv

    spec = smk.params.benchmark
    listing = benchmarks.index(spec["dataset"], smk.input.root, spec["protocol"], smk.params.seed)
    index = index_dataset(smk.input.root, ("train", "test"), verify=smk.config["data"]["verify"], processes=smk.threads,
                          listing=listing)
    write_tsv(index, smk.output[0])
    counts = index.groupby("split").size().to_dict()
    print(f"{spec['dataset']} ({spec['protocol']}) from {smk.input.root}: {index['class'].nunique()} classes, "
          f"images per split {counts}", file=sys.stderr)


run(snakemake, main)
