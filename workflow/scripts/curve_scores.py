"""S1..S6 and the feature norm of a whole-pool model at every epoch, from its checkpoints (Figure 1)."""
import sys
from pathlib import Path

from basesel.machinery.glue import run


def main(smk):
    from basesel import BaseselError
    from basesel.compute.curves import epoch_scores
    from basesel.compute.training import job_compute
    from basesel.data.images import image_dataset
    from basesel.data.subsets import probe_rows
    from basesel.io import read_tsv, write_tsv
    from basesel.models.paper import load_checkpoint

    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    checkpoints = sorted(Path(smk.input.checkpoints).glob("model_epoch*.pt"))
    if not checkpoints:
        raise BaseselError(f"{smk.input.checkpoints} holds no checkpoints")
    _, spec, _ = load_checkpoint(checkpoints[0])
    index = read_tsv(smk.input.index)
    val = index[index.split == "val"].reset_index(drop=True)
    probe = val.iloc[probe_rows(val, smk.params.probe_per_class, smk.params.seed, short="all")]
    print(f"[curves {smk.wildcards.arch}] {len(checkpoints)} checkpoints, probe of {len(probe)} source val images",
          file=sys.stderr)
    images = image_dataset(probe.path.tolist(), probe.label.to_numpy(), spec.input_size, budget, workers,
                           smk.input.get("decoded") or None)
    table = epoch_scores(checkpoints, images, margin=smk.params.s6_margin, device=device, workers=workers)
    write_tsv(table, smk.output[0], float_format="%.10g")


run(snakemake, main, torch_threads=True)
