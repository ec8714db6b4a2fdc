"""S1..S6 of every conv layer of the whole-pool model on one target's probe set (Appendix A.2)."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.compute.layers import layer_scores
    from basesel.compute.training import job_compute
    from basesel.io import read_tsv, write_tsv
    from basesel.models.paper import load_checkpoint

    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    model, spec, _ = load_checkpoint(smk.input.model)
    table = layer_scores(model, spec, read_tsv(smk.input.probe), margin=smk.params.s6_margin,
                         batch_size=smk.config["featuremaps"]["batch_size"], device=device,
                         preload_max_mb=budget, workers=workers, decoded=smk.input.get("decoded") or None)
    write_tsv(table, smk.output[0], float_format="%.10g")
    print(table.to_string(index=False), file=sys.stderr)


run(snakemake, main, torch_threads=True)
