"""Cluster resource requests that scale with the config: runtime in minutes, memory in MB.

Snakemake hands these to the SLURM executor (`--time`, `--mem`); a local run ignores them. The
model is deliberately simple and generous: a job that hits its time limit is requeued or retried
(`restart-times` in the profile) with the limit multiplied by the attempt number, and training
resumes from its last saved epoch (`compute.resume_every_s`), so an underestimate costs a requeue,
not the work done.

Cost of one image = max(compute, decode):
  compute  FLOPs of one forward pass (torchvision's documented GFLOPS at 224 px, scaled by
           width^2 and (input_size/224)^2), x3 for a training step, divided by the device rate;
  decode   a folder dataset's JPEG decode and resize on the job's CPU threads (DataLoader workers);
           embedded and preloaded data cost nothing here.
The rates are assumptions written down here, not measurements of your cluster; override any rule's
runtime in the profile (`set-resources`) once your own benchmarks/ logs tell you better.
Machinery: no code digest holds this module, so editing it reruns no job (tests/test_codedeps.py).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..models import archs

# Effective FLOP/s of a training/inference step. GPU: mixed precision on an A100/H100-class card
# at well under peak (assumed, no GPU was measured); CPU: per thread, measured on this project's
# 2-core CI machine (ResNet18 width 0.25 at 64 px trains ~1,000 images/s, i.e. ~2.8e10 FLOP/s).
DEVICE_FLOPS = {"gpu": 2.0e13, "cpu": 2.0e10}
# Images per second one CPU thread decodes and resizes (ImageNet-sized JPEG to 224 px).
DECODE_PER_THREAD = 120.0
SAFETY = 1.5  # multiplier on every estimate
START_MINUTES = 2.0  # a job's start-up, imports, reading its inputs, writing outputs (a group job adds each)


@lru_cache(maxsize=None)
def _rows(path: str, mtime: float) -> int:
    with open(path, "rb") as f:
        return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1)


def tsv_rows(path, missing: int) -> int:
    """Data rows of a TSV with a header line (cached per file version); `missing` if it is not
    written yet (Snakemake may evaluate resources when it builds the DAG, before the file exists)."""
    p = Path(path)
    try:
        return _rows(str(p), p.stat().st_mtime)
    except FileNotFoundError:
        return missing


def seconds_per_image(arch: str, width: float, input_size: int, *, train: bool, gpu: bool, threads: int,
                      decoded: bool, rates: dict | None = None, gflops_224: float | None = None) -> float:
    """Seconds one image costs a job: max(compute, decode). `rates` (read_rates: measured on a GPU)
    replace the assumed device and decode rates where they have the architecture; a measured rate is
    at full width and 224 px and scales with FLOPs to other widths and sizes. `gflops_224`: a zoo
    model's cost at 224 px (the paper's architectures have theirs in the registry)."""
    rates = rates or {}
    gflops = gflops_224 if gflops_224 is not None else archs.get(arch).gflops_224
    flops = gflops * 1e9 * width ** 2 * (input_size / 224) ** 2 * (3 if train else 1)
    measured = rates.get(("train" if train else "infer", arch)) if gpu else None
    if measured:
        compute = (width ** 2 * (input_size / 224) ** 2) / measured
    else:
        compute = flops / (DEVICE_FLOPS["gpu"] if gpu else DEVICE_FLOPS["cpu"] * max(1, threads))
    decode = 0.0 if decoded else 1.0 / (rates.get("decode", DECODE_PER_THREAD) * max(1, threads))
    return max(compute, decode)


def read_rates(path) -> dict:
    """The rates of a GPU check's TSV (benchmarks/gpu_check.py): {("train"|"infer", arch): images/s
    at full width and 224 px, "decode": images/s per CPU core}."""
    import csv

    out: dict = {}
    names = {"train_images_per_s": "train", "features_images_per_s": "infer"}
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["step"] != "rates":
                continue
            if row["name"] in names:
                out[(names[row["name"]], row["arch"])] = float(row["value"])
            elif row["name"] == "decode_images_per_s_per_core":
                out["decode"] = float(row["value"])
    if not out:
        raise ValueError(f"{path}: no rows of step `rates` (a TSV written by benchmarks/gpu_check.py?)")
    return out


def fits_preload(images: int, input_size: int, budget_mb: float) -> bool:
    """Whether `images` RGB images of `input_size` px fit in `budget_mb` MiB decoded (uint8): the one
    test that both the image loader (data.images.image_dataset) and the estimates here apply.
    Decoding up front or on the fly gives the same inputs, so this changes no result."""
    return images * 3 * input_size * input_size / 2**20 <= budget_mb


def minutes(seconds: float, attempt: int = 1) -> int:
    return int(round((START_MINUTES + SAFETY * seconds / 60.0) * max(1, attempt)))


def training_minutes(arch: dict, *, train_images: int, eval_images: int, epochs: int, gpu: bool, threads: int,
                     decoded: bool, attempt: int = 1, rates: dict | None = None) -> int:
    """Runtime request of a training job (epochs of training, then evaluation); `arch` has name,
    width, input_size (and a zoo model's gflops_224)."""
    kw = dict(gpu=gpu, threads=threads, decoded=decoded, rates=rates, gflops_224=arch.get("gflops_224"))
    step = seconds_per_image(arch["name"], arch["width"], arch["input_size"], train=True, **kw)
    infer = seconds_per_image(arch["name"], arch["width"], arch["input_size"], train=False, **kw)
    return minutes(epochs * (train_images * step + eval_images * infer), attempt)


def inference_minutes(arch: dict, *, images: int, gpu: bool, threads: int, decoded: bool, attempt: int = 1,
                      rates: dict | None = None) -> int:
    """Runtime request of a forward pass over `images`."""
    s = seconds_per_image(arch["name"], arch["width"], arch["input_size"], train=False, gpu=gpu, threads=threads,
                          decoded=decoded, rates=rates, gflops_224=arch.get("gflops_224"))
    return minutes(images * s, attempt)


def decode_minutes(images: int, *, threads: int, attempt: int = 1) -> int:
    """Runtime request of decoding a dataset's images once (data.images.write_decoded)."""
    return minutes(images / (DECODE_PER_THREAD * max(1, threads)), attempt)


def loader_mb(preload_max_mb: float, threads: int) -> int:
    """Host memory of a GPU/CPU training job: the process, a preloaded dataset, DataLoader workers."""
    return int(3000 + preload_max_mb + 500 * max(0, threads))


def table_mb(input_mb: float, factor: float = 3.0) -> int:
    """Jobs that read their inputs whole (features, score tables) need a few times their size."""
    return int(1500 + factor * input_mb)


def baselines_minutes(features_mb: float, n: int, d: int, classes: int, *, linear_probe: dict, attempt: int = 1,
                      threads: int = 1) -> int:
    """Runtime request of the baselines of one features file (`features_mb` on disk; the scores read
    its n training images of d features): the scores that read the file once (3 s a MB, as before the
    proxies), kNN's and PARC's n^2 d distances, and the linear probe's bound: every fold at its
    iteration cap (transfer.linear_probe.MAX_ITER), an L-BFGS evaluation costing about 4 n d K
    multiply-adds (the logits and the gradient), 2 FLOPs each."""
    from ..science.transfer.linear_probe import MAX_ITER

    flops = DEVICE_FLOPS["cpu"] * max(1, threads)
    probe_s = linear_probe["folds"] * MAX_ITER * 4 * n * d * max(2, classes) * 2 / flops
    distance_s = 2 * 2 * n * n * d / flops  # kNN and PARC: n^2 d multiply-adds each
    return minutes(3.0 * features_mb + probe_s + distance_s, attempt)
