"""Pretrain one base model on one source subset, resuming a killed run."""
from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.pretrain import pretrain
    from basesel.compute.schedule import Schedule
    from basesel.compute.training import job_compute
    from basesel.data.images import DataBudget
    from basesel.io import read_tsv

    device, workers, _ = job_compute(smk.config["compute"], smk.threads)
    budget = DataBudget.from_config(smk.config["compute"])  # memory, then a job-local file
    pretrain(read_tsv(smk.input.subset), smk.params.spec, Schedule(**smk.params.schedule), seed=smk.params.seed,
             source=smk.wildcards.subset, out_model=smk.output.model, log_path=smk.output.epochs,
             resume_path=smk.params.resume, device=device, workers=workers, budget=budget,
             label=f"pretrain {smk.wildcards.arch}/{smk.wildcards.subset}",
             resume_every=smk.config["compute"]["resume_every_s"], decoded=smk.input.get("decoded") or None)


run(snakemake, main, torch_threads=True)
