"""Fine-tune the whole network of one base model on one target's images."""
from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.finetune import finetune_full
    from basesel.compute.schedule import Schedule
    from basesel.compute.training import clear_resume, job_compute
    from basesel.data.images import DataBudget
    from basesel.io import read_tsv, write_json
    from basesel.models.zoo import open_base_model

    device, workers, _ = job_compute(smk.config["compute"], smk.threads)
    budget = DataBudget.from_config(smk.config["compute"])  # memory, then a job-local file
    model = open_base_model(smk.input.model)
    label = f"finetune {smk.wildcards.arch}/{smk.wildcards.subset} -> {smk.wildcards.target}"
    result = finetune_full(model, read_tsv(smk.input.index), Schedule(**smk.params.schedule), seed=smk.params.seed,
                           resume_path=smk.params.resume, log_path=smk.output.epochs, device=device, label=label,
                           budget=budget, workers=workers, resume_every=smk.config["compute"]["resume_every_s"],
                           decoded=smk.input.get("decoded") or None)
    write_json(result, smk.output.result)
    clear_resume(smk.params.resume)


run(snakemake, main, torch_threads=True)
