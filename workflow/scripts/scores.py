"""Every score of one (base model, target) pair on its probe images: S1..S6 of the featuremap file,
and the baselines on the same images' penultimate features (NAME@probe)."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.io import write_json
    from basesel.science.pair_scores import probe_scores

    result, seconds = probe_scores(smk.input.h5, smk.input.features, margin=smk.params.s6_margin,
                                   batch_size=smk.config["scores"]["batch_size"], baselines=smk.params.baselines,
                                   options=smk.params.options)
    write_json({**result, "seconds": seconds}, smk.output[0])
    print(result, file=sys.stderr)


run(snakemake, main)
