"""Train one model on the whole source pool, keeping a checkpoint per epoch (Figure 1, Appendix A.2)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    import shutil

    import torch

    from basesel.curves import EpochCheckpoints, checkpoint_name
    from basesel.images import image_dataset, normalise
    from basesel.io import BaseselError, atomic_path, read_tsv
    from basesel.models import ArchSpec, build_model, checkpoint_dict
    from basesel.schedule import Schedule
    from basesel.training import clear_resume, fit, job_compute

    index = read_tsv(smk.input.index)
    train = index[index.split == "train"]
    val = index[index.split == "val"]
    spec = ArchSpec(num_classes=int(train.label.max()) + 1, **smk.params.spec)
    schedule = Schedule(**smk.params.schedule)
    seed = smk.params.seed
    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    size = spec.input_size
    staging = Path(smk.params.staging)
    label = f"whole-pool {smk.wildcards.arch}"
    print(f"[{label}] {len(train)} train / {len(val)} val images, {spec.num_classes} classes, device {device}",
          file=sys.stderr)
    torch.manual_seed(seed)
    model = build_model(spec)
    train_set = image_dataset(train.path.tolist(), train.label.to_numpy(), size, budget, workers)
    val_set = image_dataset(val.path.tolist(), val.label.to_numpy(), size, budget, workers)
    keep = EpochCheckpoints(spec, staging, schedule.epochs, subset="whole")
    log = fit(model, train_set, val_set, schedule, seed=seed, resume_path=smk.params.resume,
              log_path=smk.output.epochs, device=device, prepare=normalise, workers=workers, label=label,
              params={"spec": smk.params.spec, "subset": "whole"}, epoch_hook=keep)
    ckpt = checkpoint_dict(model.cpu(), spec, subset="whole", classes=list(dict.fromkeys(train["class"])),
                           val_acc=float(log.val_acc.iloc[-1]), train_images=len(train))
    with atomic_path(smk.output.model, ".pt") as tmp:
        torch.save(ckpt, tmp)
    out = Path(smk.output.checkpoints)
    out.mkdir(parents=True, exist_ok=True)
    for epoch in range(1, schedule.epochs + 1):
        name = checkpoint_name(epoch, schedule.epochs)
        if not (staging / name).exists():
            raise BaseselError(f"{staging / name} is missing; delete {smk.params.resume} and rerun to train afresh")
        (staging / name).replace(out / name)
    shutil.rmtree(staging, ignore_errors=True)
    clear_resume(smk.params.resume)


run(snakemake, main, torch=True)
