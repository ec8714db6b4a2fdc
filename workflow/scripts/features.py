"""Penultimate features and source softmax of one base model on one target's train and test images."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.passes import write_features_file
    from basesel.compute.training import job_compute
    from basesel.io import read_tsv
    from basesel.models.paper import load_probed

    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    model, spec, ckpt = load_probed(smk.input.model, f"{smk.wildcards.arch}/{smk.wildcards.subset}")
    print(f"[features] {model.name} -> {smk.wildcards.target}", file=sys.stderr)
    write_features_file(model, spec, read_tsv(smk.input.index), smk.output[0],
                        batch_size=smk.config["featuremaps"]["batch_size"], device=device,
                        preload_max_mb=budget, workers=workers,
                        attrs={"subset": smk.wildcards.subset, "target": smk.wildcards.target,
                               "checkpoint": smk.input.model,
                               # the task-agnostic baselines: properties of the base model alone
                               "source_val_acc": ckpt["val_acc"], "source_train_images": ckpt["train_images"]})


run(snakemake, main, torch_threads=True)
