"""The baseline transferability scores of one features file."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel.io import write_json
    from basesel.transfer import baseline_scores

    result = baseline_scores(smk.input.h5, smk.params.names)
    write_json(result, smk.output[0])
    print(result, file=sys.stderr)


run(snakemake, main)
