"""Truncate fine-tuning: a new FC layer on every conv layer's pooled features of one target (Appendix A.2)."""
from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.layers import truncate_finetune
    from basesel.compute.schedule import Schedule
    from basesel.compute.training import pick_device
    from basesel.io import write_tsv

    heads, epochs = truncate_finetune(smk.input.h5, Schedule(**smk.params.schedule), seed=smk.params.seed,
                                      device=pick_device(smk.config["compute"]["device"]),
                                      label=f"truncate {smk.wildcards.arch} {smk.wildcards.target}")
    write_tsv(heads, smk.output.heads, float_format="%.10g")
    write_tsv(epochs, smk.output.epochs, float_format="%.10g")


run(snakemake, main, torch_threads=True)
