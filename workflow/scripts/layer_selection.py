"""Truncate fine-tuning: a new FC layer on every conv layer's GAP features, for every target (Appendix A.2)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel.io import write_tsv  # noqa: E402
from basesel.layers import truncate_finetune  # noqa: E402
from basesel.training import Schedule, pick_device  # noqa: E402


def main(smk):
    schedule = Schedule.from_config(smk.params.schedule)
    device = pick_device(smk.config["compute"]["device"])
    table, log = truncate_finetune(dict(zip(smk.params.targets, smk.input.h5)), schedule, seed=smk.params.seed,
                                   device=device, label=f"truncate {smk.wildcards.arch}")
    write_tsv(table, smk.output.table, float_format="%.10g")
    write_tsv(log, smk.output.log, float_format="%.10g")


run(snakemake, main)
