"""Penultimate features and source softmax of one base model on one target's train and test images."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel.featuremaps import extract_features
    from basesel.io import read_tsv
    from basesel.models import load_checkpoint
    from basesel.training import job_compute

    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    model, spec, ckpt = load_checkpoint(smk.input.model)
    print(f"[features] {smk.wildcards.arch}/{smk.wildcards.subset} -> {smk.wildcards.target}", file=sys.stderr)
    extract_features(model, spec, read_tsv(smk.input.index), smk.output[0],
                     batch_size=smk.config["featuremaps"]["batch_size"], device=device,
                     preload_max_mb=budget, workers=workers,
                     attrs={"subset": smk.wildcards.subset, "target": smk.wildcards.target,
                            "checkpoint": smk.input.model,
                            # the task-agnostic baselines: properties of the base model alone
                            "source_val_acc": ckpt["val_acc"], "source_train_images": ckpt["train_images"]})


run(snakemake, main, torch=True)
