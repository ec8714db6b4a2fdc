"""Pretrain one base model on one source subset, resuming a killed run."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    import torch

    from basesel.images import image_dataset, normalise
    from basesel.io import atomic_path, read_tsv
    from basesel.models import ArchSpec, build_model, checkpoint_dict
    from basesel.schedule import Schedule
    from basesel.training import clear_resume, fit, job_compute

    subset = read_tsv(smk.input.subset)
    train, val = subset[subset.split == "train"], subset[subset.split == "val"]
    spec = ArchSpec(num_classes=int(train.label.max()) + 1, **smk.params.spec)
    schedule = Schedule(**smk.params.schedule)
    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    size = spec.input_size
    torch.manual_seed(smk.params.seed)
    model = build_model(spec)
    label = f"pretrain {smk.wildcards.arch}/{smk.wildcards.subset}"
    print(f"[{label}] {len(train)} train / {len(val)} val images, {spec.num_classes} classes, device {device}", file=sys.stderr)
    train_set = image_dataset(train.path.tolist(), train.label.to_numpy(), size, budget, workers)
    val_set = image_dataset(val.path.tolist(), val.label.to_numpy(), size, budget, workers)
    log = fit(model, train_set, val_set, schedule, seed=smk.params.seed, resume_path=smk.params.resume,
              log_path=smk.output.epochs, device=device, prepare=normalise, workers=workers, label=label,
              params={"spec": smk.params.spec, "subset": smk.wildcards.subset})
    ckpt = checkpoint_dict(model.cpu(), spec, subset=smk.wildcards.subset, classes=list(dict.fromkeys(train["class"])),
                           val_acc=float(log.val_acc.iloc[-1]), train_images=len(train))
    with atomic_path(smk.output.model, ".pt") as tmp:
        torch.save(ckpt, tmp)
    clear_resume(smk.params.resume)


run(snakemake, main, torch=True)
