"""Fine-tune a new last FC layer on one features file's penultimate features."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel.finetune import finetune_head
    from basesel.io import write_json
    from basesel.schedule import Schedule
    from basesel.training import clear_resume, pick_device

    label = f"finetune {smk.wildcards.arch}/{smk.wildcards.subset} -> {smk.wildcards.target}"
    result = finetune_head(smk.input.h5, Schedule(**smk.params.schedule), seed=smk.params.seed,
                           resume_path=smk.params.resume, log_path=smk.output.epochs,
                           device=pick_device(smk.config["compute"]["device"]), label=label)
    write_json(result, smk.output.result)
    clear_resume(smk.params.resume)


run(snakemake, main, torch=True)
