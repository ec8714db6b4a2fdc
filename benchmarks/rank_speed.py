"""Wall time of `basesel rank` over five timm and torchvision candidates (full-size ImageNet
architectures, random weights written as downloads are: safetensors, a state dict, timm snapshot
folders) at 224 px, on a 1,000-image folder of 64 px images, S1..S6 and every baseline on the probe
set (10 per class), one process, as a user runs it. Also the time of loading the five models alone.

    .venv/bin/python benchmarks/rank_speed.py [--images 1000 --threads 2]
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from basesel.data import synthetic  # noqa: E402
from basesel.models.zoo import timm_module  # noqa: E402

CANDIDATES = [  # (kind, name, format)
    ("torchvision", "resnet50", "state_dict"),
    ("torchvision", "convnext_tiny", "safetensors"),
    ("timm", "vit_small_patch16_224", "snapshot"),
    ("timm", "efficientnet_b0", "snapshot"),
    ("timm", "resnet18", "safetensors"),
]


def write(kind, name, fmt, folder: Path) -> str:
    """The candidate's --model spec, its random weights written in `fmt`."""
    torch.manual_seed(0)
    if kind == "torchvision":
        model = torchvision.models.get_model(name, weights=None)
    else:
        model = timm_module().create_model(name, pretrained=False)
    if fmt == "snapshot":
        timm_module().models.save_for_hf(model, str(folder / name), safe_serialization=True)
        return str(folder / name)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = folder / f"{name}.{'safetensors' if fmt == 'safetensors' else 'pth'}"
    save_file(state, str(path)) if fmt == "safetensors" else torch.save(state, path)
    return f"{kind}:{name}={path}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthetic.generate_target(tmp / "data", kind="shape", seed=0, num_classes=10, train_per_class=args.images // 10,
                                  test_per_class=1, size=64)
        specs = [write(kind, name, fmt, tmp) for kind, name, fmt in CANDIDATES]
        models = [a for spec in specs for a in ("--model", spec)]
        code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from basesel.models.zoo import load_candidates; "
                "t = time.perf_counter(); [load_candidates(s, 224) for s in sys.argv[2:]]; "
                "print(time.perf_counter() - t)")
        load = float(subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parents[1] / "workflow"),
                                     *specs], check=True, capture_output=True, text=True).stdout.split()[-1])
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "basesel.cli", "rank", "--data", str(tmp / "data"), *models,
                        "--input-size", "224", "--threads", str(args.threads), "--out", str(tmp / "out")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t
    names = ", ".join(f"{kind}:{name}" for kind, name, _ in CANDIDATES)
    print(f"basesel rank: {len(CANDIDATES)} candidates ({names}) at 224 px, {args.images} images of 64 px, "
          f"10 classes, every score on the probe set (10/class), {args.threads} threads: {wall:.1f} s wall, "
          f"of which loading the five models {load:.1f} s")


if __name__ == "__main__":
    main()
