"""The paper's Figure 4: truncate fine-tuning accuracy against the conv layer cut after."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    import pandas as pd

    from basesel import plots
    from basesel.io import read_tsv

    table = pd.concat([read_tsv(p).assign(arch=a) for a, p in zip(smk.params.archs, smk.input.tables)], ignore_index=True)
    plots.save(plots.figure4(table), smk.output[0])


run(snakemake, main)
