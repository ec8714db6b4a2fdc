"""S1..S6 of every conv layer of the whole-pool model on one target's probe set (Appendix A.2)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel.io import read_tsv, write_tsv
    from basesel.layers import layer_scores
    from basesel.models import load_checkpoint
    from basesel.training import job_compute

    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    model, spec, _ = load_checkpoint(smk.input.model)
    table = layer_scores(model, spec, read_tsv(smk.input.probe), margin=smk.params.s6_margin,
                         batch_size=smk.config["featuremaps"]["batch_size"], device=device,
                         preload_max_mb=budget, workers=workers)
    write_tsv(table, smk.output[0], float_format="%.10g")
    print(table.to_string(index=False), file=sys.stderr)


run(snakemake, main, torch=True)
