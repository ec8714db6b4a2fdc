"""GPU-hours of configs/paper.yaml by stage, from the same cost model that sets the SLURM runtimes
(workflow/basesel/machinery/resources.py), for each device of its table (published rates, each with
its source), with images decoded in every epoch (the pipeline before decode-once) beside decoded
once per job; and this machine's measured JPEG decode rate beside the assumed one.

    python benchmarks/paper_estimate.py                 # the paper's protocol (fine-tuning mode head)
    python benchmarks/paper_estimate.py --finetune full # the whole network fine-tuned, beyond the paper
    python benchmarks/paper_estimate.py --rates benchmarks/results/gpu_check.tsv
                                                        # a device more: the rates a GPU check measured
    python benchmarks/paper_estimate.py --benchmark configs/sfda.yaml
                                                        # the forward passes of a benchmark config (tllib, sfda)

Head fine-tuning trains the new FC layer on the cached penultimate features on CPUs: no GPU time.
Image counts: ImageNet 1,281,167 train / 50,000 val images in 1,000 classes; Table 4's splits.
"""
import argparse
import sys
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
from basesel.compute.schedule import Schedule  # noqa: E402
from basesel.data.tvdatasets import CLASSES  # noqa: E402
from basesel.machinery import resources as cost_model  # noqa: E402

IMAGENET_TRAIN, IMAGENET_CLASSES, VAL_PER_CLASS = 1_281_167, 1000, 50
TARGETS = {"cars": (8144, 8041), "aircraft": (6667, 3333), "dtd": (3760, 1880), "pets": (3680, 3669),
           "caltech101": (3030, 5647), "flowers": (2040, 6149)}


# Images per split of the benchmarks' datasets (the official split files' sizes; DTD and SUN397 at
# partition 1; Caltech-101 under SFDA's rule: 3,060 training draws, 6,728 others), and what each
# benchmark's protocol reads as the target's train and test splits (data/benchmarks.py).
SPLIT_IMAGES = {
    "StanfordCars": {"train": 8144, "test": 8041}, "FGVCAircraft": {"train": 3334, "val": 3333, "trainval": 6667, "test": 3333},
    "DTD": {"train": 1880, "val": 1880, "test": 1880}, "OxfordIIITPet": {"trainval": 3680, "test": 3669},
    "Caltech101": {"train": 3060, "test": 6728}, "Flowers102": {"train": 1020, "val": 1020, "test": 6149},
    "CIFAR10": {"train": 50000, "test": 10000}, "CIFAR100": {"train": 50000, "test": 10000},
    "Food101": {"train": 75750, "test": 25250}, "SUN397": {"train": 19850, "test": 19850},
    "VOC2007": {"train": 2501, "val": 2510, "test": 4952},
}
# TLlib's own Caltech-101 download (a folder target): 30 training images per class of 102, the rest to test.
TLLIB_CALTECH = (3060, 6084)


def benchmark_passes(path: str, rates=None) -> None:
    """GPU-hours of a benchmark config's forward passes (every zoo model over every target's train
    and test images, and its probe images), from the cost model; no fine-tuning: a published table
    gives the accuracies."""
    from basesel.data.benchmarks import CLASSES, SPLITS

    cfg = yaml.safe_load((ROOT / path).read_text())
    threads, per_class = cfg["compute"]["threads"], cfg["featuremaps"]["probe_per_class"]
    images, classes = {}, {}
    for t in cfg["targets"]:
        if "folder" in t:  # TLlib's own Caltech-101 layout
            images[t["name"]], classes[t["name"]] = sum(TLLIB_CALTECH), 102
            continue
        tv = t["torchvision"]
        train, test = SPLITS[tv["dataset"]][tv["protocol"]]
        images[t["name"]] = sum(SPLIT_IMAGES[tv["dataset"]][s] for s in [*train, *test])
        classes[t["name"]] = CLASSES[tv["dataset"]] + (tv["dataset"] == "Caltech101")  # SFDA keeps the background
    total = 0.0
    print(f"{path}: {len(cfg['zoo'])} models x {len(images)} targets, {sum(images.values()):,} images a model "
          f"(the scored split and the test split) and {per_class} probe images per class; GPU-hours (x1.5 safety):")
    for z in cfg["zoo"]:
        arch = {"name": z["name"], "width": 1.0, "input_size": z["preprocess"]["input_size"], "gmacs_224": z["gmacs"]}
        kw = dict(gpu=True, threads=threads, decoded=False, rates=rates)
        hours = sum(cost_model.inference_minutes(arch, images=n, **kw) + cost_model.inference_minutes(
            arch, images=per_class * classes[t], **kw) for t, n in images.items()) / 60
        total += hours
        print(f"  {z['name']:<14} {hours:6.1f}")
    print(f"  total: {total:.0f} GPU-hours for {len(cfg['zoo']) * len(images)} (model, target) pairs, no fine-tuning")


def jpeg(rng=None) -> bytes:
    """A 500x375 JPEG (ImageNet's typical size) of smooth random colour (the GPU check draws many)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(size=(375, 500, 3)), axis=1)
    img = Image.fromarray(((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8))
    buf = BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def rates(n=300) -> tuple[float, float, float]:
    """Images/s on one thread for a 500x375 JPEG (ImageNet's typical size): decode and resize to
    224 px (training); and data.verify's two checks, decode and header."""
    from basesel.data.folders import _check_image

    data = jpeg()
    path = Path("/tmp/basesel-bench.jpg")
    path.write_bytes(data)
    out = []
    for work in (lambda: Image.open(BytesIO(data)).convert("RGB").resize((224, 224), Image.BILINEAR),
                 lambda: _check_image((str(path), True)), lambda: _check_image((str(path), False))):
        start = time.perf_counter()
        for _ in range(n):
            work()
        out.append(n / (time.perf_counter() - start))
    return tuple(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finetune", choices=("head", "full"), default="head")
    parser.add_argument("--rates", help="a GPU check's TSV (benchmarks/gpu_check.py): a device more, its measured rates")
    parser.add_argument("--benchmark", metavar="CONFIG", help="a benchmark config (configs/tllib.yaml, configs/sfda.yaml): "
                                                             "the GPU-hours of its forward passes instead")
    args = parser.parse_args()
    if args.benchmark:
        benchmark_passes(args.benchmark, cost_model.read_rates(args.rates) if args.rates else None)
        return
    cfg = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    defaults = yaml.safe_load((ROOT / "config.yaml").read_text())["compute"]
    compute = {"scratch_max_gb": 256, **defaults, **cfg.get("compute", {})}
    threads = compute["threads"]
    per_class = IMAGENET_TRAIN / IMAGENET_CLASSES
    subsets = []  # (train images, val images) of each subset of one architecture
    for n in cfg["subsets"]["classwise"]:
        subsets += [(n * per_class, n * VAL_PER_CLASS)] * (IMAGENET_CLASSES // n)
    for n in cfg["subsets"]["horizontal"]:
        subsets += [(IMAGENET_TRAIN / n, IMAGENET_CLASSES * VAL_PER_CLASS)] * n
    rate, full, header = rates()
    print(f"JPEG decode + resize to 224 px on one thread here: {rate:.0f} images/s "
          f"(the cost model assumes {cost_model.DECODE_PER_THREAD:.0f})")
    print(f"data.verify on one thread: decode {full:.0f} images/s, header {header:.0f} images/s "
          f"({header / full:.1f}x)")
    print(f"{len(subsets)} subsets per architecture, {threads} CPU threads per GPU job; compute in FLOPs "
          f"= {cost_model.FLOPS_PER_MAC} x MACs, a training step {cost_model.TRAIN_PASSES}x a forward pass\n")
    epochs_ft = Schedule.from_config(cfg["finetune"]["schedule"]).epochs
    probe_images = cfg["featuremaps"]["probe_per_class"] * sum(CLASSES.values())
    print(f"fine-tuning mode {args.finetune}" + (" (the paper's: the new FC layer on cached features, on CPUs)"
                                                  if args.finetune == "head" else " (the whole network, beyond the paper)"))
    whole = set(cfg["curves"]["architectures"]) | set(cfg["layers"]["architectures"])
    devices = dict(cost_model.DEVICES)
    measured = cost_model.read_rates(args.rates) if args.rates else None
    for key, device in devices.items():
        print(f"  {device.name}: {device.source}")
    if measured:
        print(f"  measured: {args.rates}")
    print(f"\n{'device':<24} {'images decoded':<15} {'architecture':<10} {'pretrain':>9} {'passes':>7} {'finetune':>9} "
          f"{'whole-pool':>11}  (GPU-hours, x{cost_model.SAFETY} margin)")
    keys = [(k, None) for k in devices] + ([(cost_model.REQUEST_DEVICE, measured)] if measured else [])
    for key, rates_ in keys:
        name = "measured" if rates_ else devices[key].name
        for decode in ("every_epoch", "once"):
            total = gpu_hours(cfg, subsets, compute, probe_images, epochs_ft, whole, args.finetune, key, rates_, decode,
                              name)
            print(f"{'':<24} {'':<15} {'total':<10} {total:>9.0f} GPU-hours for {3 * len(subsets)} base models")
    print(f"\nThe SLURM time requests assume {devices[cost_model.REQUEST_DEVICE].name}, images decoded once.\n")
    checkpoints(cfg, whole)


def gpu_hours(cfg, subsets, compute, probe_images, epochs_ft, whole, finetune, device, rates, decode, name) -> float:
    """Print GPU-hours per architecture and stage on `device` (with measured `rates` where given),
    training jobs decoding as `decode` says (every_epoch: the old pipeline, for every job over the
    memory budget); return the total."""
    total = 0.0
    target_images = sum(a + b for a, b in TARGETS.values())
    for a in cfg["architectures"]:
        arch = {"name": a["name"], "width": a["width"], "input_size": a["input_size"]}
        epochs = Schedule.from_config(a["pretrain"]).epochs
        kw = dict(gpu=True, threads=compute["threads"], rates=rates, device=device)

        def train_h(train, val, epochs):
            # the pipeline before decode-once had no disk: what memory could not hold was decoded every epoch
            scratch_gb = compute["scratch_max_gb"] if decode == "once" else 0
            how = cost_model.training_decode(int(train + val), a["input_size"], compute["preload_max_mb"], scratch_gb)
            return cost_model.training_seconds(arch, train_images=int(train), eval_images=int(val), epochs=epochs,
                                               decode=how, **kw) * cost_model.SAFETY / 3600

        pre = sum(train_h(tr, va, epochs) for tr, va in subsets)
        # one GPU group job per base model: every target's images, then every target's probe images
        fm = len(subsets) * cost_model.seconds_per_image(a["name"], a["width"], a["input_size"], train=False,
                                                         decoded=False, **kw) * (target_images + probe_images) \
            * cost_model.SAFETY / 3600
        ft = 0.0 if finetune == "head" else len(subsets) * sum(train_h(tr, te, epochs_ft) for tr, te in TARGETS.values())
        wh = 0.0
        if a["name"] in whole:
            schedule = Schedule.from_config(a["pretrain"], cfg["curves"].get("schedule"))
            curve_probe = cfg["curves"]["probe_per_class"] * IMAGENET_CLASSES
            wh = train_h(IMAGENET_TRAIN, IMAGENET_CLASSES * VAL_PER_CLASS, schedule.epochs) + \
                cost_model.seconds_per_image(a["name"], a["width"], a["input_size"], train=False, decoded=True, **kw) \
                * schedule.epochs * curve_probe * cost_model.SAFETY / 3600
        total += pre + fm + ft + wh
        label = {"every_epoch": "every epoch", "once": "once per job"}[decode]
        print(f"{name:<24} {label:<15} {a['name']:<10} {pre:>9.1f} {fm:>7.1f} {ft:>9.1f} {wh:>11.1f}")
        name = ""
    return total


def checkpoints(cfg, whole) -> None:
    """Disk of the whole-pool models' per-epoch checkpoints (float32 weights, one file per epoch)."""
    sys.path.insert(0, str(ROOT / "workflow"))
    from basesel.models.paper import ArchSpec, build_model

    total = 0.0
    for a in cfg["architectures"]:
        if a["name"] not in whole:
            continue
        epochs = Schedule.from_config(a["pretrain"], cfg["curves"].get("schedule")).epochs
        model = build_model(ArchSpec(a["name"], a["width"], a["input_size"], IMAGENET_CLASSES))
        gb = sum(p.numel() for p in model.state_dict().values()) * 4 * epochs / 1e9
        total += gb
        print(f"checkpoints of the whole-pool {a['name']}: {epochs} x {gb / epochs * 1e3:.0f} MB = {gb:.1f} GB")
    print(f"checkpoints in all: {total:.1f} GB")


if __name__ == "__main__":
    main()
