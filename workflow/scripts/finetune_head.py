"""Fine-tune a new last FC layer on cached penultimate features, for every target of one base model."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel.finetune import finetune_head  # noqa: E402
from basesel.io import write_json  # noqa: E402
from basesel.training import Schedule, clear_resume, pick_device  # noqa: E402


def main(smk):
    schedule = Schedule.from_config(smk.params.settings["schedule"])
    device = pick_device(smk.config["compute"]["device"])
    for target, h5, out, log in zip(smk.params.targets, smk.input.h5, smk.output.result, smk.output.log):
        resume = out + ".resume.pt"
        label = f"finetune {smk.wildcards.arch}/{smk.wildcards.subset} -> {target}"
        result = finetune_head(h5, schedule, seed=smk.params.seed, resume_path=resume, log_path=log, device=device, label=label)
        write_json(result, out)
        clear_resume(resume)


run(snakemake, main)
