"""GPU-hours of configs/paper.yaml by stage, from the same cost model that sets the SLURM runtimes
(workflow/basesel/machinery/resources.py), and this machine's measured JPEG decode rate beside the assumed one.

    python benchmarks/paper_estimate.py                 # the paper's protocol (fine-tuning mode head)
    python benchmarks/paper_estimate.py --finetune full # the whole network fine-tuned, beyond the paper
    python benchmarks/paper_estimate.py --rates benchmarks/results/gpu_check.tsv
                                                        # a second table from the rates a GPU check measured
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
        arch = {"name": z["name"], "width": 1.0, "input_size": z["preprocess"]["input_size"], "gflops_224": z["gflops"]}
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
    parser.add_argument("--rates", help="a GPU check's TSV (benchmarks/gpu_check.py): a second table from its rates")
    parser.add_argument("--benchmark", metavar="CONFIG", help="a benchmark config (configs/tllib.yaml, configs/sfda.yaml): "
                                                             "the GPU-hours of its forward passes instead")
    args = parser.parse_args()
    if args.benchmark:
        benchmark_passes(args.benchmark, cost_model.read_rates(args.rates) if args.rates else None)
        return
    cfg = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    threads = cfg["compute"]["threads"]
    per_class = IMAGENET_TRAIN / IMAGENET_CLASSES
    subsets = []
    for n in cfg["subsets"]["classwise"]:
        subsets += [n * (per_class + VAL_PER_CLASS)] * (IMAGENET_CLASSES // n)
    for n in cfg["subsets"]["horizontal"]:
        subsets += [IMAGENET_TRAIN / n + IMAGENET_CLASSES * VAL_PER_CLASS] * n
    target_images = sum(a + b for a, b in TARGETS.values())
    rate, full, header = rates()
    print(f"JPEG decode + resize to 224 px on one thread here: {rate:.0f} images/s "
          f"(the cost model assumes {cost_model.DECODE_PER_THREAD:.0f})")
    print(f"data.verify on one thread: decode {full:.0f} images/s, header {header:.0f} images/s "
          f"({header / full:.1f}x)")
    print(f"{len(subsets)} subsets per architecture, {threads} CPU threads per GPU job\n")
    epochs_ft = Schedule.from_config(cfg["finetune"]["schedule"]).epochs
    probe_images = cfg["featuremaps"]["probe_per_class"] * sum(CLASSES.values())
    print(f"fine-tuning mode {args.finetune}" + (" (the paper's: the new FC layer on cached features, on CPUs)"
                                                  if args.finetune == "head" else " (the whole network, beyond the paper)"))
    whole = set(cfg["curves"]["architectures"]) | set(cfg["layers"]["architectures"])
    tables = [("assumed rates (workflow/basesel/machinery/resources.py)", None)]
    if args.rates:
        tables.append((f"measured rates ({args.rates})", cost_model.read_rates(args.rates)))
    for title, measured in tables:
        print(f"\n{title}")
        gpu_hours(cfg, subsets, target_images + probe_images, epochs_ft, whole, args.finetune, threads, measured)
    print()
    checkpoints(cfg, whole)


def gpu_hours(cfg, subsets, pass_images, epochs_ft, whole, finetune, threads, rates) -> None:
    """Print GPU-hours per architecture and stage, and the total, from the cost model (`rates`, where
    given, in place of its assumed rates)."""
    total = 0.0
    print(f"{'architecture':<10} {'pretrain':>10} {'passes':>8} {'finetune':>10} {'whole-pool':>11}"
          f"   (GPU-hours, x1.5 safety; whole-pool: the Figure 1 / A.2 model and its per-epoch scores)")
    for a in cfg["architectures"]:
        arch = {"name": a["name"], "width": a["width"], "input_size": a["input_size"]}
        epochs = Schedule.from_config(a["pretrain"]).epochs
        kw = dict(gpu=True, threads=threads, decoded=False, rates=rates)
        pre = sum(cost_model.training_minutes(arch, train_images=int(n), eval_images=0, epochs=epochs, **kw) for n in subsets) / 60
        # one GPU group job per base model: every target's images, then every target's probe images
        fm = len(subsets) * cost_model.inference_minutes(arch, images=pass_images, **kw) / 60
        ft = 0.0 if finetune == "head" else len(subsets) * sum(
            cost_model.training_minutes(arch, train_images=tr + te, eval_images=0, epochs=epochs_ft, **kw)
            for tr, te in TARGETS.values()) / 60
        wh = 0.0
        if a["name"] in whole:
            schedule = Schedule.from_config(a["pretrain"], cfg["curves"].get("schedule"))
            curve_probe = cfg["curves"]["probe_per_class"] * IMAGENET_CLASSES
            wh = (cost_model.training_minutes(arch, train_images=IMAGENET_TRAIN, eval_images=0, epochs=schedule.epochs, **kw)
                  + cost_model.inference_minutes(arch, images=schedule.epochs * curve_probe, **kw)) / 60
        total += pre + fm + ft + wh
        print(f"{a['name']:<10} {pre:>10.0f} {fm:>8.0f} {ft:>10.0f} {wh:>11.0f}")
    print(f"total: {total:.0f} GPU-hours for {3 * len(subsets)} base models, "
          f"{3 * len(subsets) * len(TARGETS)} fine-tunings")


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
