"""A pretraining job's data time per epoch, in one run: images decoded again in every epoch (the
path of a job over its memory budget before decode-once) against decoded once into a job-local file
(data.images.decode_to_disk) and once into memory; on ImageNet-sized JPEGs (500x375, resized to
224 px), the dataset forced over the in-memory budget. Only the data is timed: the batches a
training epoch draws (training._batches, shuffled), no model.

    python benchmarks/decode_once.py                 # 1,000 JPEGs, 30 epochs' worth, one thread
    python benchmarks/decode_once.py --images 4000 --workers 2
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from basesel.compute.training import _batches  # noqa: E402
from basesel.data.images import DataBudget, ImageList, image_dataset  # noqa: E402
from paper_estimate import jpeg  # noqa: E402


def epoch_seconds(dataset, batch: int, workers: int, seed: int) -> float:
    """Seconds to draw one shuffled epoch of batches of `dataset`."""
    start = time.perf_counter()
    for _ in _batches(dataset, batch, True, torch.Generator().manual_seed(seed), workers, False):
        pass  # a batch is its pixels copied out (gathered from memory or the file, or decoded)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=30, help="the paper's schedule: the totals are for this many")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of the decoding path (0: in turn)")
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="basesel-decode-once-") as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        paths = []
        for i in range(args.images):
            (folder / f"{i}.jpg").write_bytes(jpeg(rng))
            paths.append(str(folder / f"{i}.jpg"))
        labels = np.arange(args.images) % 10
        mib = args.images * 3 * args.size ** 2 / 2 ** 20
        print(f"{args.images} JPEGs of 500x375 at {args.size} px ({mib:.0f} MiB decoded), batch {args.batch}, "
              f"one torch thread, {args.workers} loader workers; data time only")

        streamed = image_dataset(paths, labels, args.size, DataBudget(memory_mb=0), args.workers)
        assert isinstance(streamed, ImageList)
        every = [epoch_seconds(streamed, args.batch, args.workers, seed) for seed in range(2)]

        start = time.perf_counter()
        on_disk = image_dataset(paths, labels, args.size, DataBudget(memory_mb=0, scratch_gb=mib / 1024 + 1,
                                                                     scratch_dir=tmp), args.workers, label="disk")
        disk_decode = time.perf_counter() - start
        disk = [epoch_seconds(on_disk, args.batch, 0, seed) for seed in range(2)]

        start = time.perf_counter()
        in_memory = image_dataset(paths, labels, args.size, DataBudget(memory_mb=mib + 1), args.workers)
        memory_decode = time.perf_counter() - start
        memory = [epoch_seconds(in_memory, args.batch, 0, seed) for seed in range(2)]

    e = args.epochs
    rows = [("decoded in every epoch (before)", 0.0, min(every)),
            ("decoded once to a job-local file", disk_decode, min(disk)),
            ("decoded once into memory", memory_decode, min(memory))]
    print(f"\n{'path':<34} {'decode once':>12} {'per epoch':>10} {'images/s read':>14} {f'{e} epochs':>10} {'ratio':>7}")
    base = e * min(every)
    for name, once, per_epoch in rows:
        total = once + e * per_epoch
        print(f"{name:<34} {once:>11.2f}s {per_epoch:>9.3f}s {args.images / per_epoch:>14,.0f} {total:>9.1f}s "
              f"{total / base:>7.3f}")
    print(f"\nreading decoded images from memory: {min(every) / min(memory):,.0f}x decoding them; "
          f"from the file: {min(every) / min(disk):,.0f}x")


if __name__ == "__main__":
    main()
