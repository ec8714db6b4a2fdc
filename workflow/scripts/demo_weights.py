"""Train one of the zoo demo's models on the embedded source pool and write it as downloaded weights are."""
from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.demo import train_demo_model
    from basesel.compute.training import job_compute
    from basesel.data.images import DataBudget
    from basesel.io import read_tsv

    device, workers, _ = job_compute(smk.config["compute"], smk.threads)
    budget = DataBudget.from_config(smk.config["compute"])  # memory, then a job-local file
    train_demo_model(smk.params.spec, read_tsv(smk.input.index), smk.params.input_size, seed=smk.params.seed,
                     device=device, out=smk.output.weights, log_path=smk.output.epochs, workers=workers,
                     budget=budget)


run(snakemake, main, torch_threads=True)
