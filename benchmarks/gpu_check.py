"""The CUDA path on a GPU, in one command: the workflow end to end, scores against the CPU's, and rates.

    python benchmarks/gpu_check.py --prepare              # here, once: the CPU reference (.gpu_reference/)
    bash benchmarks/gpu_check.sh OUT.tsv                  # on the GPU machine (installs .whl/, then this)
    python benchmarks/gpu_check.py OUT.tsv --device cpu --quick   # the same steps on the CPU: a rehearsal

Steps, each a block of rows of the TSV written to OUT.tsv (columns step, name, arch, value, unit, detail):

1. `tiny_run`: configs/tiny.yaml end to end through Snakemake with `compute.device` set to the
   device, from scratch (jobs in the warm-start server's forked children); wall time and job count.
2. `versus_cpu`: the CPU reference is a tiny run made here (pretrained base models, their forward
   passes and scores). On the device, a copy of it reruns the features and featuremap passes
   (`--forcerun`, a process per job) and, through them, every score and baseline; each value is
   compared with the CPU's. Tolerance: 1e-3 of the score's spread over the base models of a target (the scale on
   which a ranking reads it), and the order of every two base models whose CPU values differ by
   more than that must agree. float32 passes (TF32 off, models.full_float32) differ from the CPU's
   by summation order only, ~1e-6 relative; pseudo-inverses and eigenvalues of the baselines
   amplify that, but not to a thousandth of the spread.
3. `rates`: per architecture at full width, 224 px, 1,000 classes: training images/s (training.fit,
   the code's loop and mixed precision, second epoch; with the decoded images' batches gathered on
   the device and cudnn.benchmark, and with batches copied from the host each step) and features-pass images/s
   (compute.passes.write_features_file, HDF5 writing included), on decoded images; and JPEG decode and
   resize to 224 px on the machine's CPU cores through the loader (images/s in all and per core),
   decoded once into a job-local file, and an epoch read back from it.
   benchmarks/paper_estimate.py --rates OUT.tsv turns these into GPU-hours.

Exit status 1 when a step fails or a comparison does not hold; the TSV is written either way.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
REFERENCE = ROOT / ".gpu_reference"
# what the comparison needs of a CPU run: the base models and the inputs of their passes
# (not the passes' files: the check redoes them)
KEEP = ("results/data", "results/subsets", "results/probes", "results/pretrain", "results/scores",
        "results/baselines", ".snakemake/metadata")
TOLERANCE = 1e-3  # of a score's spread over a target's base models
ARCHS = ("alexnet", "vgg16", "resnet18")


def snakemake(workdir: Path, *args, overlay: dict, log: Path) -> float:
    """Run the workflow of this checkout on `workdir` with the tiny config and `overlay`; seconds taken."""
    over = workdir / "gpu-check.yaml"
    over.write_text(yaml.safe_dump(overlay))
    # the greedy scheduler: the ILP one needs PuLP, which the GPU machine lacks (16 MB to carry)
    cmd = [sys.executable, "-m", "snakemake", *args, "--scheduler", "greedy", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--cores", str(os.cpu_count()), "--configfile", str(ROOT / "config.yaml"), str(ROOT / "configs/tiny.yaml"),
           str(over)]
    start = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"snakemake failed ({done.returncode}); the end of {log}:\n" + log.read_text()[-4000:])
    return time.perf_counter() - start


def prepare() -> None:
    """A tiny run on this machine's CPU, kept as the reference (only what the comparison needs)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        seconds = snakemake(work, overlay={"compute": {"device": "cpu"}}, log=Path(tmp) / "log")
        shutil.rmtree(REFERENCE, ignore_errors=True)
        for rel in KEEP:
            shutil.copytree(work / rel, REFERENCE / rel)
    size = sum(p.stat().st_size for p in REFERENCE.rglob("*") if p.is_file()) / 2**20
    print(f"CPU reference in {REFERENCE} ({size:.0f} MiB), from a tiny run of {seconds:.0f} s")


def tiny_run(device: str, scratch: Path, rows: list) -> None:
    work = scratch / "tiny"
    work.mkdir()
    seconds = snakemake(work, overlay={"compute": {"device": device}}, log=scratch / "tiny.log")
    jobs = (scratch / "tiny.log").read_text().count("Finished job")
    table = pd.read_csv(work / "results/analysis/table.tsv", sep="\t")
    rows.append(("tiny_run", "wall", "", seconds, "s", f"{jobs} jobs, --cores {os.cpu_count()}"))
    rows.append(("tiny_run", "pairs_in_table", "", len(table), "rows", "base model x target rows of table.tsv"))


def versus_cpu(device: str, scratch: Path, rows: list) -> bool:
    if not REFERENCE.exists():
        raise RuntimeError(f"no CPU reference at {REFERENCE}: run `python benchmarks/gpu_check.py --prepare` here first")
    work = scratch / "versus"
    shutil.copytree(REFERENCE, work, symlinks=True)
    targets = sorted(str(p.relative_to(work)) for kind in ("scores", "baselines") for p in (work / "results" / kind).rglob("*.json"))
    # a process per job here (the tiny run used the warm-start server's forked children): both paths on CUDA
    snakemake(work, *targets, "--forcerun", "features", "featuremaps",
              overlay={"compute": {"device": device, "warm_start": False}}, log=scratch / "versus.log")
    log = (scratch / "versus.log").read_text()
    passes = log.count("rule features:") + log.count("rule featuremaps:")
    rows.append(("versus_cpu", "passes_redone", "", passes, "jobs", f"features and featuremap passes on {device}"))
    compared = compare(_values(REFERENCE, targets), _values(work, targets))
    rows.extend(compared)
    return bool(compared) and all(r[-1].startswith("holds") for r in compared)


def compare(cpu: pd.DataFrame, dev: pd.DataFrame) -> list:
    """One row per (target, score): the largest |device - cpu| in tolerances (1e-3 of the score's
    spread over the target's base models), and whether every two base models whose CPU values differ
    by more than the tolerance keep their order. Frames: columns model, target, score, value."""
    out = []
    dev = dev.set_index(["model", "target", "score"]).value
    for (target, score), group in cpu.groupby(["target", "score"]):
        mine = group.value.to_numpy()
        other = dev.reindex([(m, target, score) for m in group.model]).to_numpy()
        finite = np.isfinite(mine)
        spread = float(np.ptp(mine[finite])) if finite.sum() > 1 else 0.0
        tol = TOLERANCE * spread if spread > 0 else 1e-9 * max(1.0, float(np.abs(mine[finite]).max(initial=0)))
        same_nan = bool((np.isnan(mine) == np.isnan(other)).all())
        worst = float(np.abs(other[finite] - mine[finite]).max(initial=0) / tol) if same_nan else float("inf")
        a, b = np.subtract.outer(mine, mine), np.subtract.outer(other, other)
        clear = np.abs(a) > tol  # NaN pairs compare False: not clear
        order = bool((np.sign(a[clear]) == np.sign(b[clear])).all())
        holds = worst <= 1.0 and order
        out.append(("versus_cpu", score, target, worst, "x tolerance",
                    f"{'holds' if holds else 'FAILS'}: max |device - cpu| / (1e-3 x spread {spread:.3g}); order of "
                    f"clearly different base models {'kept' if order else 'BROKEN'}; {len(mine)} base models"))
    return out


def _values(root: Path, files: list) -> pd.DataFrame:
    out = []
    for rel in files:
        _, kind, arch, subset, name = Path(rel).parts
        doc = json.loads((root / rel).read_text())
        for score, value in doc.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append((f"{arch}/{subset}", name.removesuffix(".json"), f"{kind}:{score}", float(value)))
    return pd.DataFrame(out, columns=["model", "target", "score", "value"]).sort_values(["target", "score", "model"])


def rates(device_name: str, quick: bool, scratch: Path, rows: list) -> None:
    import torch

    from basesel.compute.passes import write_features_file
    from basesel.compute.schedule import Schedule
    from basesel.compute.training import fit, pick_device
    from basesel.data.images import ImageList, normalise
    from basesel.models.paper import ArchSpec, build_model, probed

    device = pick_device(device_name)
    width, size, classes, images = (0.25, 64, 100, 128) if quick else (1.0, 224, 1000, 2560)
    batch = 64  # configs/paper.yaml's
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (images, 3, size, size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, classes, (images,), generator=g)
    train = torch.utils.data.TensorDataset(x, y)
    val = torch.utils.data.TensorDataset(x[:batch], y[:batch])
    index = pd.DataFrame({"path": [f"img{i}" for i in range(images)], "label": y.numpy(), "split": "train",
                          "class": [f"c{int(c)}" for c in y]})
    for arch in ARCHS:
        spec = ArchSpec(arch, width, size, classes)
        # the decoded images' batches gathered on the device (what a job whose images fit does), then
        # copied from the host each step (the path before): one model each, the same seed
        for name, on_device_mb in (("train_images_per_s", 1e9), ("train_images_per_s_host_batches", 0.0)):
            torch.manual_seed(0)
            model = build_model(spec)
            log = fit(model, train, val, Schedule(epochs=2, lr=0.001, batch_size=batch), seed=0,
                      resume_path=None, log_path=scratch / f"{arch}.tsv", device=device,
                      prepare=normalise, label=f"rate {arch}", device_max_mb=on_device_mb)
            where = "batches gathered on the device" if on_device_mb else "batches copied from the host"
            rows.append(("rates", name, arch, images / float(log.seconds.iloc[-1]), "images/s",
                         f"training.fit epoch 2 of {images} decoded images, {where}, cudnn.benchmark on CUDA, "
                         f"batch {batch}, width {width}, {size} px, {classes} classes, {device}"))
        start = time.perf_counter()
        for _ in range(2):
            write_features_file(probed(model, spec, arch), index, scratch / f"{arch}.h5", batch_size=256,
                                device=device, dataset=train)
        seconds = (time.perf_counter() - start) / 2
        rows.append(("rates", "features_images_per_s", arch, images / seconds, "images/s",
                     f"passes.write_features_file, {images} decoded images, batch 256, HDF5 written, {device}"))
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    # decoding: ImageNet-sized JPEGs through the loader's worker processes, one per core
    from paper_estimate import jpeg  # this folder is on sys.path: the script's own

    folder = scratch / "jpeg"
    folder.mkdir()
    rng = np.random.default_rng(0)
    n = 256 if quick else 2048
    for i in range(n):
        (folder / f"{i}.jpg").write_bytes(jpeg(rng))
    cores = os.cpu_count()
    data = ImageList([str(folder / f"{i}.jpg") for i in range(n)], np.zeros(n, dtype=np.int64), 224)
    start = time.perf_counter()
    for _ in torch.utils.data.DataLoader(data, batch_size=64, num_workers=cores):
        pass
    rate = n / (time.perf_counter() - start)
    rows.append(("rates", "decode_images_per_s", "", rate, "images/s", f"500x375 JPEG to 224 px, {cores} loader workers"))
    rows.append(("rates", "decode_images_per_s_per_core", "", rate / cores, "images/s", f"the above / {cores}"))
    # decoded once to a job-local file (data.images.decode_to_disk), then an epoch's shuffled batches
    # read from it: what every epoch after the first costs a job over its memory budget
    from basesel.compute.training import _batches
    from basesel.data.images import decode_to_disk

    start = time.perf_counter()
    on_disk = decode_to_disk(data.paths, np.zeros(n, dtype=np.int64), 224, str(scratch), cores, "rate")
    rows.append(("rates", "decode_to_disk_images_per_s", "", n / (time.perf_counter() - start), "images/s",
                 f"500x375 JPEG to 224 px into a job-local file, {cores} loader workers"))
    start = time.perf_counter()
    for _ in _batches(on_disk, batch, True, torch.Generator().manual_seed(0), 0, False):
        pass
    rows.append(("rates", "decoded_file_images_per_s", "", n / (time.perf_counter() - start), "images/s",
                 f"an epoch's shuffled batches of {batch} read from that file (the page cache warm)"))


def environment(device_name: str, rows: list) -> None:
    import torch
    import torchvision

    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    rows.append(("environment", "python", "", sys.version_info.minor, "3.x", sys.version.split()[0]))
    rows.append(("environment", "torch", "", float("nan"), "", f"torch {torch.__version__}, torchvision {torchvision.__version__}"))
    rows.append(("environment", "gpu", "", torch.cuda.device_count(), "GPUs", f"{name}; bf16 "
                 f"{'yes' if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 'no'}; asked: {device_name}"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", help="the TSV to write")
    ap.add_argument("--device", default="cuda", help="cuda (the check) or cpu (a rehearsal)")
    ap.add_argument("--quick", action="store_true", help="small sizes for the rates: a rehearsal")
    ap.add_argument("--prepare", action="store_true", help=f"make the CPU reference in {REFERENCE} and stop")
    ap.add_argument("--steps", default="tiny_run,versus_cpu,rates")
    args = ap.parse_args()
    if args.prepare:
        prepare()
        return 0
    if not args.out:
        ap.error("give the TSV to write")
    rows: list = []
    ok = True
    environment(args.device, rows)
    with tempfile.TemporaryDirectory() as tmp:
        for step in args.steps.split(","):
            scratch = Path(tmp) / step
            scratch.mkdir()
            start = time.perf_counter()
            print(f"== {step}", flush=True)
            try:
                if step == "tiny_run":
                    tiny_run(args.device, scratch, rows)
                elif step == "versus_cpu":
                    ok &= versus_cpu(args.device, scratch, rows)
                elif step == "rates":
                    rates(args.device, args.quick, scratch, rows)
                else:
                    raise ValueError(f"unknown step {step!r}")
            except Exception as exc:  # keep going: the other steps' rows are worth having
                ok = False
                traceback.print_exc()
                rows.append((step, "error", "", float("nan"), "", " ".join(str(exc).split())[:500]))
            rows.append((step, "step_seconds", "", time.perf_counter() - start, "s", ""))
    table = pd.DataFrame(rows, columns=["step", "name", "arch", "value", "unit", "detail"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, sep="\t", index=False, float_format="%.6g")
    with pd.option_context("display.width", 200, "display.max_colwidth", 90, "display.max_rows", 500):
        print(table.to_string(index=False))
    print("the check holds" if ok else "THE CHECK FAILS", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
