"""Milliseconds per training step of each of the paper's architectures, at the embedded default's
sizes and at the paper's, for each optimizer implementation (torch's per-parameter loop, foreach,
fused) and memory format (contiguous, channels-last), measured in one run on this machine, with the
ratio of each to the previous code's choice (the loop, contiguous) and to what training.fit uses now.

    .venv/bin/python benchmarks/training_steps.py [--steps 20 --threads 1 --paper]

A step is what training.fit does per batch: forward, cross-entropy, zero_grad, backward, optimizer
step, on decoded uint8 images normalised on the fly; one thread per job, as the workflow runs them.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
from basesel.compute.schedule import Schedule  # noqa: E402
from basesel.compute.training import memory_format  # noqa: E402
from basesel.data.images import normalise  # noqa: E402
from basesel.models.paper import ArchSpec, build_model  # noqa: E402

# (label, architecture, width, input px, batch, optimizer): config.yaml's pretraining, and the paper's
DEMO = [("AlexNet w0.25, 64 px, batch 16, Adam", "alexnet", 0.25, 64, 16, "adam"),
        ("VGG16 w0.125, 32 px, batch 16, Adam", "vgg16", 0.125, 32, 16, "adam"),
        ("ResNet18 w0.25, 64 px, batch 32, SGD", "resnet18", 0.25, 64, 32, "sgd")]
PAPER = [("AlexNet w1, 224 px, batch 64, SGD", "alexnet", 1.0, 224, 64, "sgd"),
         ("VGG16 w1, 224 px, batch 64, SGD", "vgg16", 1.0, 224, 64, "sgd"),
         ("ResNet18 w1, 224 px, batch 64, SGD", "resnet18", 1.0, 224, 64, "sgd")]
IMPLEMENTATIONS = ("loop", "foreach", "fused")
FORMATS = ("contiguous", "channels_last")


def optimizer(params, kind: str, impl: str):
    schedule = Schedule(optimizer=kind, lr=3e-4 if kind == "adam" else 0.01, weight_decay=0.0 if kind == "adam" else 5e-4)
    flags = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[impl]
    if kind == "adam":
        return torch.optim.Adam(params, lr=schedule.lr, weight_decay=schedule.weight_decay, **flags)
    return torch.optim.SGD(params, lr=schedule.lr, momentum=schedule.momentum, weight_decay=schedule.weight_decay,
                           **flags)


def step_ms(arch, width, size, batch, kind, impl, fmt, steps: int, classes: int = 20) -> float:
    torch.manual_seed(0)
    model = build_model(ArchSpec(arch, width, size, classes)).train()
    fmt_ = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt_)
    opt = optimizer(model.parameters(), kind, impl)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    times = []
    for i in range(steps + 3):
        t = time.perf_counter()
        inputs = normalise(x).contiguous(memory_format=fmt_)
        loss = nn.functional.cross_entropy(model(inputs), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 3:  # after warm-up
            times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--paper", action="store_true", help="also the paper's sizes (slow on a CPU: seconds a step)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"ms per training step, median of {args.steps}, {args.threads} thread(s); ratio to the loop/contiguous "
          f"(the previous code) and [now]: what training.fit chooses")
    for label, arch, width, size, batch, kind in DEMO + (PAPER if args.paper else []):
        ms = {(impl, fmt): step_ms(arch, width, size, batch, kind, impl, fmt, args.steps)
              for impl in IMPLEMENTATIONS for fmt in FORMATS}
        chosen = ("fused", "channels_last" if memory_format(arch) == torch.channels_last else "contiguous")
        base = ms[("loop", "contiguous")]
        print(f"\n{label}")
        for (impl, fmt), v in ms.items():
            mark = "  [now]" if (impl, fmt) == chosen else ""
            print(f"  {impl:<8} {fmt:<14} {v:8.1f} ms   x{base / v:4.2f}{mark}")
        print(f"  now against the previous code: {base / ms[chosen]:.2f}x faster")


if __name__ == "__main__":
    main()
