"""The baseline transferability scores of one features file."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.io import write_json
    from basesel.science.transfer import baseline_scores

    result = baseline_scores(smk.input.h5, smk.params.names, options=smk.params.options)
    write_json(result, smk.output[0])
    print(result, file=sys.stderr)


run(snakemake, main)
