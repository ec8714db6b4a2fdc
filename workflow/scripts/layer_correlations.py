"""Rank correlation of S1..S6 with truncate fine-tuning accuracy across layers (Figure 5)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    import pandas as pd

    from basesel.experiments import layer_correlations
    from basesel.io import read_tsv, write_tsv

    table = pd.concat([read_tsv(p).assign(arch=a) for a, p in zip(smk.params.archs, smk.input.tables)], ignore_index=True)
    write_tsv(layer_correlations(table), smk.output[0], float_format="%.10g")


run(snakemake, main)
