"""Fine-tune a new last FC layer on one features file's penultimate features."""
from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.finetune import finetune_head
    from basesel.compute.schedule import Schedule
    from basesel.compute.training import clear_resume, pick_device
    from basesel.io import write_json

    label = f"finetune {smk.wildcards.arch}/{smk.wildcards.subset} -> {smk.wildcards.target}"
    result = finetune_head(smk.input.h5, Schedule(**smk.params.schedule), seed=smk.params.seed,
                           resume_path=smk.params.resume, log_path=smk.output.epochs,
                           device=pick_device(smk.config["compute"]["device"]), label=label,
                           resume_every=smk.config["compute"]["resume_every_s"])
    write_json(result, smk.output.result)
    clear_resume(smk.params.resume)


run(snakemake, main, torch_threads=True)
