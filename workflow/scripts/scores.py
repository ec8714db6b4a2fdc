"""S1..S6 and the baseline transferability scores of one featuremap file."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel.io import write_json  # noqa: E402
from basesel.scores import scores_from_h5  # noqa: E402


def main(smk):
    s = smk.params.settings
    result = scores_from_h5(smk.input.h5, margin=s["s6_margin"], batch_size=s["batch_size"], baselines=s["baselines"])
    write_json(result, smk.output[0])
    print(result, file=sys.stderr)


run(snakemake, main)
