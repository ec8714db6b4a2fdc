"""GPU-hours of configs/paper.yaml by rule, from the same cost model that sets the SLURM runtimes
(workflow/basesel/resources.py), and this machine's measured JPEG decode rate beside the assumed one.

    python benchmarks/paper_estimate.py

Image counts: ImageNet 1,281,167 train / 50,000 val images in 1,000 classes; Table 4's splits.
"""
import sys
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
from basesel import resources as R  # noqa: E402

IMAGENET_TRAIN, IMAGENET_CLASSES, VAL_PER_CLASS = 1_281_167, 1000, 50
TARGETS = {"cars": (8144, 8041), "aircraft": (6667, 3333), "dtd": (3760, 1880), "pets": (3680, 3669),
           "caltech101": (3030, 5647), "flowers": (2040, 6149)}


def _jpeg() -> bytes:
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(size=(375, 500, 3)), axis=1)
    img = Image.fromarray(((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8))
    buf = BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def rates(n=300) -> tuple[float, float, float]:
    """Images/s on one thread for a 500x375 JPEG (ImageNet's typical size): decode and resize to
    224 px (training); and data.verify's two checks, decode and header."""
    from basesel.data import _check_image

    data = _jpeg()
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
          f"(the cost model assumes {R.DECODE_PER_THREAD:.0f})")
    print(f"data.verify on one thread: decode {full:.0f} images/s, header {header:.0f} images/s "
          f"({header / full:.1f}x)")
    print(f"{len(subsets)} subsets per architecture, {threads} CPU threads per GPU job\n")
    total = 0.0
    epochs_ft = cfg["finetune"]["schedule"].get("epochs", 30)
    print(f"{'architecture':<10} {'pretrain':>10} {'featuremaps':>12} {'finetune':>10}   (GPU-hours, x1.5 safety)")
    for a in cfg["architectures"]:
        arch = {"name": a["name"], "width": a["width"], "input_size": a["input_size"]}
        epochs = a["pretrain"].get("epochs", 30)
        kw = dict(gpu=True, threads=threads, decoded=False)
        pre = sum(R.training_minutes(arch, train_images=int(n), eval_images=0, epochs=epochs, **kw) for n in subsets) / 60
        fm = len(subsets) * R.inference_minutes(arch, images=target_images, **kw) / 60
        ft = len(subsets) * sum(R.training_minutes(arch, train_images=tr + te, eval_images=0, epochs=epochs_ft, **kw)
                                for tr, te in TARGETS.values()) / 60
        total += pre + fm + ft
        print(f"{a['name']:<10} {pre:>10.0f} {fm:>12.0f} {ft:>10.0f}")
    print(f"\ntotal: {total:.0f} GPU-hours for {3 * len(subsets)} base models, "
          f"{3 * len(subsets) * len(TARGETS)} fine-tunings")


if __name__ == "__main__":
    main()
