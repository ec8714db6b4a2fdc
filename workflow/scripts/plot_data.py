"""Sample images of every dataset, and the size of every source subset."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    import pandas as pd

    from basesel import plots
    from basesel.io import read_tsv, write_tsv

    indexes = {name: read_tsv(p) for name, p in zip(smk.params.datasets, smk.input.indexes)}
    plots.save(plots.data_montage(indexes, seed=smk.params.seed), smk.output.montage)
    rows = []
    for name, p in zip(smk.params.subsets, smk.input.subsets):
        s = read_tsv(p)
        rows.append({"subset": name, "policy": "class-wise" if name.startswith("cw") else "horizontal",
                     "classes": s["class"].nunique(), "train_images": int((s.split == "train").sum()),
                     "val_images": int((s.split == "val").sum()),
                     "first_class": s["class"].iloc[0], "last_class": s["class"].iloc[-1]})
    write_tsv(pd.DataFrame(rows), smk.output.subsets)


run(snakemake, main)
