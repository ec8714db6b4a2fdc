"""Train one model on the whole source pool, keeping a checkpoint per epoch (Figure 1, Appendix A.2)."""
from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.curves import publish_checkpoints
    from basesel.compute.pretrain import pretrain
    from basesel.compute.schedule import Schedule
    from basesel.compute.training import clear_resume, job_compute
    from basesel.data.images import DataBudget
    from basesel.io import read_tsv

    device, workers, _ = job_compute(smk.config["compute"], smk.threads)
    budget = DataBudget.from_config(smk.config["compute"])  # memory, then a job-local file
    schedule = Schedule(**smk.params.schedule)
    # The checkpoints are published after the model is written: a resumed run needs the epochs
    # before the kill, and so cannot keep them in the output folder, which Snakemake clears.
    pretrain(read_tsv(smk.input.index), smk.params.spec, schedule, seed=smk.params.seed, source="whole",
             out_model=smk.output.model, log_path=smk.output.epochs, resume_path=smk.params.resume, device=device,
             workers=workers, budget=budget, label=f"whole-pool {smk.wildcards.arch}",
             keep_epochs_in=smk.params.staging, keep_resume=True, resume_every=smk.config["compute"]["resume_every_s"],
             decoded=smk.input.get("decoded") or None)
    publish_checkpoints(smk.params.staging, smk.output.checkpoints, schedule.epochs, smk.params.resume)
    clear_resume(smk.params.resume)


run(snakemake, main, torch_threads=True)
