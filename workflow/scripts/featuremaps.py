"""Dump featuremaps, penultimate features and source softmax of one base model on every target."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel.featuremaps import extract  # noqa: E402
from basesel.io import read_tsv  # noqa: E402
from basesel.models import load_checkpoint  # noqa: E402
from basesel.training import loader_workers, pick_device  # noqa: E402


def main(smk):
    settings, compute = smk.params.settings, smk.config["compute"]
    device = pick_device(compute["device"])
    model, spec, ckpt = load_checkpoint(smk.input.model)
    for target, index_path, out in zip(smk.params.targets, smk.input.indexes, smk.output):
        print(f"[featuremaps] {smk.wildcards.arch}/{smk.wildcards.subset} -> {target}", file=sys.stderr)
        extract(model, spec, read_tsv(index_path), out, probe_per_class=settings["probe_per_class"],
                probe_seed=smk.params.seed, batch_size=settings["batch_size"], device=device,
                preload_max_mb=compute["preload_max_mb"], workers=loader_workers(device, smk.threads),
                attrs={"subset": smk.wildcards.subset, "target": target, "checkpoint": smk.input.model,
                       # the task-agnostic baselines: properties of the base model alone
                       "source_val_acc": ckpt["val_acc"], "source_train_images": ckpt["train_images"]})


run(snakemake, main)
