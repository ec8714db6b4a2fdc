"""Featuremaps of the probed layer of one base model on one target's probe images."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.passes import write_featuremap_file
    from basesel.compute.training import job_compute
    from basesel.io import read_tsv
    from basesel.models.zoo import open_base_model

    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    model = open_base_model(smk.input.model, f"{smk.wildcards.arch}/{smk.wildcards.subset}")
    print(f"[featuremaps] {model.name} -> {smk.wildcards.target}: {model.layer}", file=sys.stderr)
    write_featuremap_file(model, read_tsv(smk.input.probe), smk.output[0],
                          batch_size=smk.config["featuremaps"]["batch_size"], device=device, preload_max_mb=budget,
                          workers=workers, decoded=smk.input.get("decoded") or None,
                          attrs={"subset": smk.wildcards.subset, "target": smk.wildcards.target,
                                 "checkpoint": smk.input.model})


run(snakemake, main, torch_threads=True)
