"""Cut the source pool into the paper's class-wise and horizontal subsets."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel.data import make_subset  # noqa: E402
from basesel.io import read_tsv, write_tsv  # noqa: E402


def main(smk):
    index = read_tsv(smk.input.index)
    for name, path in zip(smk.params.names, smk.output):
        subset = make_subset(index, name, smk.params.seed)
        write_tsv(subset, path)
        n = subset.groupby("split").size().to_dict()
        print(f"{name}: {subset['class'].nunique()} classes, {n}", file=sys.stderr)


run(snakemake, main)
