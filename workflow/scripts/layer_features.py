"""Globally pooled features of every conv layer of the whole-pool model on one target (Appendix A.2)."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.layers import extract_layer_features
    from basesel.compute.training import job_compute
    from basesel.io import read_tsv
    from basesel.models.paper import load_checkpoint

    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    model, spec, _ = load_checkpoint(smk.input.model)
    print(f"[layer features] {smk.wildcards.arch} (whole pool) -> {smk.wildcards.target}", file=sys.stderr)
    extract_layer_features(model, spec, read_tsv(smk.input.index), smk.output[0],
                           batch_size=smk.config["featuremaps"]["batch_size"], device=device,
                           preload_max_mb=budget, workers=workers, decoded=smk.input.get("decoded") or None,
                           attrs={"target": smk.wildcards.target, "checkpoint": smk.input.model})


run(snakemake, main, torch_threads=True)
