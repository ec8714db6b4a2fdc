"""Cluster resource requests that scale with the config: runtime in minutes, memory in MB.

Snakemake hands these to the SLURM executor (`--time`, `--mem`); a local run ignores them. The
model is deliberately simple and generous: a job that hits its time limit is requeued or retried
(`restart-times` in the profile) with the limit multiplied by the attempt number, and training
resumes from its last saved epoch (`compute.resume_every_s`), so an underestimate costs a requeue,
not the work done.

Compute is counted in FLOPs: a model's multiply-accumulates (torchvision's model cards call them
"GFLOPS"; timm, rightly, GMACs) x 2, scaled by width^2 and (input_size/224)^2; a training step costs
3 forward passes (forward, and backward at twice the forward), validation one. A device's speed is
its published images/s for an architecture where it has one (DEVICES, each rate cited), scaled by
FLOPs to other widths and sizes, and otherwise its slowest effective FLOP/s over the architectures
it lists. Images come three ways (data.images.image_dataset): decoded already (`none`); decoded once
per job, into memory or a job-local file, before the first epoch (`once`: the decode adds to the
compute); or decoded again in every epoch by the loader's workers while the device computes
(`every_epoch`: each image costs the slower of the two; on the CPU, the sum).
The rates are written down here, not measurements of your cluster: the requests assume the slowest
device of the table (REQUEST_DEVICE); override any rule's runtime in the profile
(`set-resources`) once your own benchmarks/ logs tell you better, or measure your GPU with
benchmarks/gpu_check.py.
Machinery: no code digest holds this module, so editing it reruns no job (tests/test_codedeps.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..models import archs

FLOPS_PER_MAC = 2
TRAIN_PASSES = 3  # a training step: the forward pass and a backward pass of twice its cost


@dataclass(frozen=True)
class Device:
    """A device's throughput: images/s at 224 px and full width, by architecture (training in mixed
    precision and channels-last; inference likewise), and where the numbers come from."""
    name: str
    train: dict = field(default_factory=dict)
    infer: dict = field(default_factory=dict)
    source: str = ""

    def flops_per_s(self, train: bool) -> float:
        """Effective FLOP/s: the slowest over the architectures it lists (FLOPs of one image x images/s)."""
        rates = self.train if train else self.infer
        return min(rate * image_flops(arch, 1.0, 224, train=train) for arch, rate in rates.items())

    def scaled(self, factor: float, name: str, source: str) -> "Device":
        return Device(name, {a: r * factor for a, r in self.train.items()},
                      {a: r * factor for a, r in self.infer.items()}, source)


TIMM = "huggingface/pytorch-image-models"
RTX3090 = Device(
    "RTX 3090",
    # timm's training benchmark, AMP + channels-last, PyTorch 1.12 (train_samples_per_sec)
    train={"resnet18": 3481.78, "vgg16": 546.06},
    # timm's inference benchmark, AMP + channels-last, PyTorch 2.4 (infer_samples_per_sec at 224 px)
    infer={"resnet18": 11188.75, "vgg16": 1729.39},
    source=f"{TIMM} results/benchmark-train-amp-nhwc-pt112-cu113-rtx3090.csv (c865028c) and "
           f"results/benchmark-infer-amp-nhwc-pt240-cu124-rtx3090.csv (5c33776a); synthetic inputs, batch 256-1024",
)
# No published H100/H200 numbers for these networks: an estimate, the RTX 3090's rates x 3. Dense
# BF16 tensor peak is 989 TFLOP/s against the 3090's 71 (14x), but networks this small run far
# below peak, nearer the ratio of memory bandwidth (3.35 TB/s H100 SXM, 4.8 H200, 0.94 RTX 3090).
H100 = RTX3090.scaled(3.0, "H100 / H200 (estimate)", "the RTX 3090's rates x 3: an estimate, not a measurement")
DEVICES = {"rtx3090": RTX3090, "h100": H100}
REQUEST_DEVICE = "rtx3090"  # what the SLURM time requests assume: the slowest device of the table
# CPU: FLOP/s per thread, from this project's 2-core CI machine (ResNet18 width 0.25 at 64 px trains
# ~1,000 images/s: 1,000 x 3 x 2 x 1.81e9 / 16 x (64/224)^2 = 5.5e10 FLOP/s), rounded down.
CPU_FLOPS_PER_THREAD = 4.0e10
# The scores' NumPy and SciPy work (kNN's and PARC's distances, the linear probe) per thread: half the
# training rate, which leaves the requests above the measured times (benchmarks/later_scores_cost.py).
CPU_SCORE_FLOPS_PER_THREAD = 2.0e10
# Images per second one CPU thread decodes and resizes (ImageNet-sized JPEG to 224 px): assumed,
# below the 420/s measured here (benchmarks/paper_estimate.py), for slower cluster CPUs and disks.
DECODE_PER_THREAD = 120.0
DECODES = ("none", "once", "every_epoch")
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


@lru_cache(maxsize=None)
def _split_rows(path: str, mtime: float) -> tuple[int, int]:
    with open(path, "rb") as f:
        header = f.readline().rstrip(b"\r\n").split(b"\t")
        if b"split" not in header:
            raise ValueError(f"{path}: no `split` column in its header")
        col = header.index(b"split")
        train = other = 0
        for line in f:
            if line.split(b"\t", col + 1)[col] == b"train":
                train += 1
            else:
                other += 1
    return train, other


def tsv_split_rows(path, missing: int) -> tuple[int, int]:
    """(rows of split `train`, every other row) of an index or subset TSV: what a training job
    trains on each epoch and what it validates on (cached per file version); (`missing`, 0) if the
    file is not written yet, which errs long (every image charged as training)."""
    p = Path(path)
    try:
        return _split_rows(str(p), p.stat().st_mtime)
    except FileNotFoundError:
        return missing, 0


def image_flops(arch: str, width: float, input_size: int, *, train: bool, gmacs_224: float | None = None) -> float:
    """FLOPs one image costs: 2 x its forward pass's multiply-accumulates (the registry's, or a zoo
    model's `gmacs_224`), scaled to `width` and `input_size`, x3 for a training step."""
    gmacs = gmacs_224 if gmacs_224 is not None else archs.get(arch).gmacs_224
    return gmacs * 1e9 * FLOPS_PER_MAC * width ** 2 * (input_size / 224) ** 2 * (TRAIN_PASSES if train else 1)


def compute_seconds(arch: str, width: float, input_size: int, *, train: bool, gpu: bool, threads: int,
                    rates: dict | None = None, device: str = REQUEST_DEVICE, gmacs_224: float | None = None) -> float:
    """Seconds of compute one image costs a job on the GPU `device` (DEVICES) or on `threads` CPU
    threads. `rates` (read_rates: measured by a GPU check) come first where they have the
    architecture; then the device's published rate for it; a rate is at full width and 224 px and
    scales with FLOPs; an architecture with neither takes the device's effective FLOP/s."""
    flops = image_flops(arch, width, input_size, train=train, gmacs_224=gmacs_224)
    if not gpu:
        return flops / (CPU_FLOPS_PER_THREAD * max(1, threads))
    kind = "train" if train else "infer"
    gpu_device = DEVICES[device]
    measured = (rates or {}).get((kind, arch)) or getattr(gpu_device, kind).get(arch)
    if measured and gmacs_224 is None:
        return flops / image_flops(arch, 1.0, 224, train=train) / measured
    return flops / gpu_device.flops_per_s(train)


def decode_seconds(threads: int, rates: dict | None = None) -> float:
    """Seconds of decoding and resizing one JPEG, on `threads` CPU threads."""
    return 1.0 / ((rates or {}).get("decode", DECODE_PER_THREAD) * max(1, threads))


def seconds_per_image(arch: str, width: float, input_size: int, *, train: bool, gpu: bool, threads: int,
                      decoded: bool, rates: dict | None = None, gmacs_224: float | None = None,
                      device: str = REQUEST_DEVICE) -> float:
    """Seconds one image costs a pass that reads it once: compute, and unless it was `decoded`
    already its decoding (alongside the GPU in the loader's workers; in turn on the CPU)."""
    compute = compute_seconds(arch, width, input_size, train=train, gpu=gpu, threads=threads, rates=rates,
                              device=device, gmacs_224=gmacs_224)
    if decoded:
        return compute
    decode = decode_seconds(threads, rates)
    return max(compute, decode) if gpu else compute + decode


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


def training_seconds(arch: dict, *, train_images: int, eval_images: int, epochs: int, gpu: bool, threads: int,
                     decode: str, rates: dict | None = None, device: str = REQUEST_DEVICE) -> float:
    """Seconds of a training job: `epochs` of training steps over `train_images` and a validation
    pass (forward only) over `eval_images`, their images decoded as `decode` says (DECODES)."""
    if decode not in DECODES:
        raise ValueError(f"decode {decode!r}: expected one of {', '.join(DECODES)}")
    # decoded every epoch, each image costs every epoch what a pass that decodes it costs
    kw = dict(gpu=gpu, threads=threads, rates=rates, device=device, gmacs_224=arch.get("gmacs_224"),
              decoded=decode != "every_epoch")
    step = seconds_per_image(arch["name"], arch["width"], arch["input_size"], train=True, **kw)
    infer = seconds_per_image(arch["name"], arch["width"], arch["input_size"], train=False, **kw)
    once = (train_images + eval_images) * decode_seconds(threads, rates) if decode == "once" else 0.0
    return once + epochs * (train_images * step + eval_images * infer)


def training_minutes(arch: dict, *, train_images: int, eval_images: int, epochs: int, gpu: bool, threads: int,
                     decode: str, attempt: int = 1, rates: dict | None = None, device: str = REQUEST_DEVICE) -> int:
    """Runtime request of a training job (training_seconds); `arch` has name, width, input_size
    (and a zoo model's gmacs_224)."""
    return minutes(training_seconds(arch, train_images=train_images, eval_images=eval_images, epochs=epochs, gpu=gpu,
                                    threads=threads, decode=decode, rates=rates, device=device), attempt)


def inference_minutes(arch: dict, *, images: int, gpu: bool, threads: int, decoded: bool, attempt: int = 1,
                      rates: dict | None = None, device: str = REQUEST_DEVICE) -> int:
    """Runtime request of a forward pass over `images`."""
    s = seconds_per_image(arch["name"], arch["width"], arch["input_size"], train=False, gpu=gpu, threads=threads,
                          decoded=decoded, rates=rates, gmacs_224=arch.get("gmacs_224"), device=device)
    return minutes(images * s, attempt)


def decode_minutes(images: int, *, threads: int, attempt: int = 1) -> int:
    """Runtime request of decoding a dataset's images once (data.images.write_decoded)."""
    return minutes(images / (DECODE_PER_THREAD * max(1, threads)), attempt)


def training_decode(images: int, input_size: int, preload_max_mb: float, scratch_max_gb: float) -> str:
    """How a training job over `images` decodes them (data.images.image_dataset's rule): once, when
    they fit its memory or its local disk; in every epoch otherwise (a full disk is not foreseen
    here: the job says so in its log)."""
    fits = fits_preload(images, input_size, preload_max_mb) or fits_preload(images, input_size, scratch_max_gb * 1024)
    return "once" if fits else "every_epoch"


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

    flops = CPU_SCORE_FLOPS_PER_THREAD * max(1, threads)
    probe_s = linear_probe["folds"] * MAX_ITER * 4 * n * d * max(2, classes) * 2 / flops
    distance_s = 2 * 2 * n * n * d / flops  # kNN and PARC: n^2 d multiply-adds each
    return minutes(3.0 * features_mb + probe_s + distance_s, attempt)
