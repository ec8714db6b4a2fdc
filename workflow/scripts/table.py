"""Collect scores and fine-tuned accuracies into one table, a row per (arch, source, target)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

import itertools  # noqa: E402

import pandas as pd  # noqa: E402

from basesel.io import read_json, write_tsv  # noqa: E402


def main(smk):
    keys = list(itertools.product(smk.params.archs, smk.params.subsets, smk.params.targets))
    rows = []
    for (arch, subset, target), s, f in zip(keys, smk.input.scores, smk.input.finetune):
        assert f"/{arch}/{subset}/{target}." in s and f"/{arch}/{subset}/{target}." in f, (s, f)
        rows.append({"arch": arch, "source": subset, "target": target, **read_json(s), "accuracy": read_json(f)["accuracy"]})
    write_tsv(pd.DataFrame(rows), smk.output[0], float_format="%.10g")


run(snakemake, main)
