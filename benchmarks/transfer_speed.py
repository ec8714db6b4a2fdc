"""Time of every transferability score on n = 5,000 images, d = 512 features, 100 classes.

Issue targets on 2 cores: each under 1 s, NLEEP (a Gaussian mixture) under 30 s. Ratios are to
LogME measured in the same run.

    .venv/bin/python benchmarks/transfer_speed.py [--n 5000 --d 512 --classes 100]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from basesel.science.transfer import SCORES  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--source-classes", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    y = np.arange(args.n) % args.classes
    # Classes overlap (offsets smaller than the noise), as penultimate features of a real target do.
    f = np.maximum(rng.normal(size=(args.n, args.d)) + 0.3 * rng.normal(size=(args.classes, args.d))[y], 0)
    p = rng.dirichlet(np.full(args.source_classes, 0.1), size=args.n)
    times = {}
    for name, (fn, needs) in SCORES.items():
        t = time.perf_counter()
        value = fn(f, y, p if needs else None)
        times[name] = time.perf_counter() - t
        print(f"{name:14s} {value:12.5g}  {times[name]:7.3f} s", flush=True)
    print(f"n={args.n} d={args.d} classes={args.classes}; time / LogME's: "
          + ", ".join(f"{k} {v / times['LogME']:.2f}" for k, v in times.items()))


if __name__ == "__main__":
    main()
