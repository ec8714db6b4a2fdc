"""The layer table of one architecture: every target's per-layer scores and truncate fine-tuning accuracy."""
from basesel.machinery.glue import run


def main(smk):
    from basesel.io import read_tsv, write_tsv
    from basesel.science.experiments import layer_table

    scores = {t: read_tsv(p) for t, p in zip(smk.params.targets, smk.input.scores)}
    heads = {t: read_tsv(p) for t, p in zip(smk.params.targets, smk.input.heads)}
    write_tsv(layer_table(scores, heads), smk.output[0], float_format="%.10g")


run(snakemake, main)
