"""Featuremap extraction (forward + hooks + HDF5 write) against the bare forward pass.

Prints images/second of each and their ratio, measured in one run on the same model, batch size
and decoded images; image decoding is timed on its own. Usage:

    .venv/bin/python benchmarks/featuremaps_throughput.py [--arch resnet18 --width 0.25 --size 64 --images 2000]
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from basesel.compute.passes import write_features_file  # noqa: E402
from basesel.data import synthetic  # noqa: E402
from basesel.data.folders import index_dataset  # noqa: E402
from basesel.data.images import normalise, preload  # noqa: E402
from basesel.models.paper import ArchSpec, build_model, probed  # noqa: E402


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--images", type=int, default=2000, help="train+test images of the generated target")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        per_class = args.images // 10
        root = Path(tmp) / "target"
        synthetic.generate_target(root, kind="shape", seed=0, num_classes=10, train_per_class=per_class // 2,
                                  test_per_class=per_class - per_class // 2, size=args.size)
        index = index_dataset(root, ("train", "test"), verify=False)
        rows = index.sort_values("split", kind="stable", key=lambda s: s.map({"train": 0, "test": 1}))
        t = time.perf_counter()
        data = preload(rows.path.tolist(), rows.label.to_numpy(), args.size)
        decode_s = time.perf_counter() - t
        n = len(data)
        spec = ArchSpec(args.arch, args.width, args.size, 100)
        model = build_model(spec).eval()
        x_all = data.tensors[0]

        def forward():
            with torch.no_grad():
                for i in range(0, n, args.batch_size):
                    model(normalise(x_all[i:i + args.batch_size]))

        def extraction():
            write_features_file(probed(model, spec, args.arch), index, Path(tmp) / "fm.h5",
                                batch_size=args.batch_size, device=torch.device("cpu"), dataset=data)

        forward()  # warm-up
        fwd = best_of(forward, args.repeats)
        ext = best_of(extraction, args.repeats)
        size_mb = (Path(tmp) / "fm.h5").stat().st_size / 2**20
    print(f"{args.arch} width {args.width} at {args.size} px, batch {args.batch_size}, {n} images, {args.threads} thread(s)")
    print(f"  image decoding               {n / decode_s:9.0f} img/s")
    print(f"  bare forward pass            {n / fwd:9.0f} img/s")
    print(f"  extraction incl. HDF5 write  {n / ext:9.0f} img/s   ({size_mb:.1f} MiB file)")
    print(f"  ratio extraction / forward   {fwd / ext:9.3f}")


if __name__ == "__main__":
    main()
