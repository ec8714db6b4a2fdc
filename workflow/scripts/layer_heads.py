"""Truncate fine-tuning: a new FC layer on every conv layer's pooled features of one target (Appendix A.2)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel.io import write_tsv
    from basesel.layers import truncate_finetune
    from basesel.schedule import Schedule
    from basesel.training import pick_device

    heads, epochs = truncate_finetune(smk.input.h5, Schedule(**smk.params.schedule), seed=smk.params.seed,
                                      device=pick_device(smk.config["compute"]["device"]),
                                      label=f"truncate {smk.wildcards.arch} {smk.wildcards.target}")
    write_tsv(heads, smk.output.heads, float_format="%.10g")
    write_tsv(epochs, smk.output.epochs, float_format="%.10g")


run(snakemake, main, torch=True)
