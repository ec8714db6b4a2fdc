"""Train one model on the whole source pool, recording S1..S6 and the feature norm every epoch (Figure 1)."""
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel.curves import ScoreTracker, source_probe  # noqa: E402
from basesel.data import image_dataset, normalise  # noqa: E402
from basesel.io import BaseselError, atomic_path, read_tsv  # noqa: E402
from basesel.models import ArchSpec, build_model, checkpoint_dict  # noqa: E402
from basesel.training import Schedule, clear_resume, fit, loader_workers, pick_device  # noqa: E402


def main(smk):
    import torch

    index = read_tsv(smk.input.index)
    train = index[index.split == "train"]
    val = index[index.split == "val"].reset_index(drop=True)
    spec = ArchSpec(num_classes=int(train.label.max()) + 1, **smk.params.spec)
    schedule = Schedule.from_config(smk.params.schedule)
    probe_cfg, seed = smk.params.probe, smk.params.seed
    compute = smk.config["compute"]
    device = pick_device(compute["device"])
    workers = loader_workers(device, smk.threads)
    size, budget = spec.input_size, compute["preload_max_mb"]
    probe = val.iloc[source_probe(val, probe_cfg["probe_per_class"], seed)]
    keep = "checkpoints" in smk.output.keys()
    staging = Path(smk.params.staging)
    label = f"whole-pool {smk.wildcards.arch}"
    print(f"[{label}] {len(train)} train / {len(val)} val images, {spec.num_classes} classes, "
          f"probe {len(probe)} val images, device {device}", file=sys.stderr)
    torch.manual_seed(seed)
    model = build_model(spec)
    train_set = image_dataset(train.path.tolist(), train.label.to_numpy(), size, budget, workers)
    val_set = image_dataset(val.path.tolist(), val.label.to_numpy(), size, budget, workers)
    probe_set = image_dataset(probe.path.tolist(), probe.label.to_numpy(), size, budget, workers)
    tracker = ScoreTracker(spec.arch, probe_set, margin=probe_cfg["s6_margin"], device=device, workers=workers,
                           spec=spec, checkpoint_dir=staging if keep else None, epochs=schedule.epochs)
    log = fit(model, train_set, val_set, schedule, seed=seed, resume_path=smk.params.resume,
              log_path=smk.output.log, device=device, prepare=normalise, workers=workers, label=label,
              params={"spec": smk.params.spec, "subset": "whole", "probe": probe_cfg, "keep_checkpoints": keep},
              epoch_hook=tracker)
    ckpt = checkpoint_dict(model.cpu(), spec, subset="whole", classes=list(dict.fromkeys(train["class"])),
                           val_acc=float(log.val_acc.iloc[-1]), train_images=len(train))
    with atomic_path(smk.output.model, ".pt") as tmp:
        torch.save(ckpt, tmp)
    if keep:
        out = Path(smk.output.checkpoints)
        out.mkdir(parents=True, exist_ok=True)
        for epoch in range(1, schedule.epochs + 1):
            name = tracker.checkpoint_name(epoch)
            if not (staging / name).exists():
                raise BaseselError(f"{staging / name} is missing; delete {smk.params.resume} and rerun to train afresh")
            (staging / name).replace(out / name)
    shutil.rmtree(staging, ignore_errors=True)
    clear_resume(smk.params.resume)


run(snakemake, main)
