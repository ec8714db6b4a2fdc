"""Index a dataset folder and validate it: splits, classes, class sizes, every image decodes."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel.data import index_dataset  # noqa: E402
from basesel.io import write_tsv  # noqa: E402


def main(smk):
    splits = list(smk.params.splits)
    index = index_dataset(smk.input.root, tuple(splits), min_per_class={"train": smk.params.min_train})
    write_tsv(index, smk.output[0])
    counts = index.groupby("split").size().to_dict()
    print(f"{smk.input.root}: {index['class'].nunique()} classes, images per split {counts}", file=sys.stderr)


run(snakemake, main)
