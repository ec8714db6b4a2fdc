"""What the later scores cost at scale: seconds of kNN, LinearProbe, PARC, NCTI and ETran beside
LogME's, on n images of d features in 100 Gaussian classes, measured in one run on this machine.

    python benchmarks/later_scores_cost.py                      # n 1,000 / 10,000 / 50,000, d 512 / 2,048
    python benchmarks/later_scores_cost.py --n 1000 10000 --d 512
    python benchmarks/later_scores_cost.py --skip LinearProbe   # leave a score out of the larger sizes
    python benchmarks/later_scores_cost.py --threads 1          # BLAS threads (default: all)

Every score is computed exactly at every size: kNN's and PARC's n^2 pairs a block of rows at a time
(no subsample). A row gives the seconds of each score and its ratio to LogME's in the same row.
The scores job's cluster time request (machinery/resources.py baselines_minutes) is printed beside
them: what the cost model would ask for one such features file (one CPU thread, the linear probe at
its iteration cap).
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

SCORES = ("LogME", "kNN", "LinearProbe", "PARC", "NCTI", "ETran")


def data(n: int, d: int, classes: int = 100, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centers = rng.normal(0, 0.3, size=(classes, d))
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--d", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--skip", nargs="*", default=[], help="scores to leave out where n >= --skip-from")
    parser.add_argument("--skip-from", type=int, default=50000)
    parser.add_argument("--threads", type=int, default=0, help="BLAS threads (0: the library's default)")
    args = parser.parse_args()
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    from basesel.machinery.resources import baselines_minutes
    from basesel.science.transfer import compute

    print(f"{os.cpu_count()} CPU cores; 100 classes; float32 features, float64 inside each score")
    print(f"{'n':>7} {'d':>6} " + " ".join(f"{s:>12}" for s in SCORES) + "   seconds (ratio to LogME); request")
    for n in args.n:
        for d in args.d:
            x, y = data(n, d)
            row = {}
            for name in SCORES:
                if name in args.skip and n >= args.skip_from:
                    row[name] = None
                    continue
                start = time.perf_counter()
                compute([name], x, y)
                row[name] = time.perf_counter() - start
            base = row["LogME"]
            cells = [f"{'-':>12}" if v is None else f"{v:7.1f} ({v / base:4.0f}x)" if name != "LogME" else f"{v:12.2f}"
                     for name, v in row.items()]
            request = baselines_minutes(n * d * 4 * 1.25 / 2**20, n, d, 100, linear_probe={"folds": 5})
            print(f"{n:>7} {d:>6} " + " ".join(cells) + f"   {request} min", flush=True)


if __name__ == "__main__":
    main()
