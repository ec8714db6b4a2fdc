"""Correlations, the alpha sweep, best alphas and the C_56 summary of the table."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from pathlib import Path  # noqa: E402

from basesel.analysis import analyze  # noqa: E402
from basesel.io import read_tsv  # noqa: E402


def main(smk):
    s = smk.params.settings
    summary = analyze(read_tsv(smk.input.table), Path(smk.output.summary).parent, alpha_step=s["alpha_step"],
                      n_boot=s["bootstrap"], seed=smk.params.seed)
    print(summary, file=sys.stderr)


run(snakemake, main)
