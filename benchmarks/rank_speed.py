"""Wall time of `basesel rank` for 5 ResNet18 candidates on a 1,000-image, 64 px folder (issue target: < 2 min).

    .venv/bin/python benchmarks/rank_speed.py [--candidates 5 --images 1000 --input-size 224]
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from basesel.data import synthetic  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=int, default=5)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--input-size", type=int, default=224, help="model input; images are 64 px and resized")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthetic.generate_target(tmp / "data", kind="shape", seed=0, num_classes=10, train_per_class=args.images // 10,
                                  test_per_class=1, size=64)
        models = []
        for i in range(args.candidates):
            torch.manual_seed(i)
            torch.save(torchvision.models.resnet18().state_dict(), tmp / f"r{i}.pth")
            models += ["--model", f"resnet18={tmp / f'r{i}.pth'}"]
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "basesel.cli", "rank", "--data", str(tmp / "data"), *models,
                        "--input-size", str(args.input_size), "--out", str(tmp / "out")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t
    print(f"basesel rank: {args.candidates} ResNet18 candidates (full width, {args.input_size} px input), "
          f"{args.images} images of 64 px, 10 classes, probe 10/class: {wall:.1f} s wall")


if __name__ == "__main__":
    main()
