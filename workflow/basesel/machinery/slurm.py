"""A check of the SLURM site settings before the first job is submitted.

Without it, a wrong partition or a GPU request on a partition without GPUs surfaces as an sbatch
error per job ("invalid partition specified", "Invalid generic resource (gres) specification")
after the DAG is built, and a group job that packs several GPU jobs side by side asks SLURM for
several GPUs. Here the same mistakes end the run at once with the key to change.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from .. import BaseselError

PROFILE = "slurm/config.yaml"


@dataclass(frozen=True)
class Partition:
    name: str
    default: bool
    available: bool
    gres: str

    @property
    def has_gpu(self) -> bool:
        return any(g.split(":")[0] == "gpu" for g in self.gres.split(",") if g and g != "(null)")


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Partitions from `sinfo -h -o "%P %a %G"` (one line per partition and gres set)."""
    parts: dict[str, Partition] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        raw, avail, gres = fields[0], fields[1], fields[2]
        name = raw.rstrip("*")
        old = parts.get(name)
        gres = gres if old is None else f"{old.gres},{gres}"
        parts[name] = Partition(name, raw.endswith("*") or (old is not None and old.default), avail == "up", gres)
    return parts


def sinfo() -> str:
    """The cluster's partitions, as `sinfo -h -o "%P %a %G"` prints them."""
    if not shutil.which("sinfo"):
        raise BaseselError("the SLURM executor is selected but `sinfo` is not on PATH: run Snakemake on a login node "
                           "of the cluster (or drop --profile slurm to run locally)")
    out = subprocess.run(["sinfo", "-h", "-o", "%P %a %G"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise BaseselError(f"`sinfo` failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


def check_jobs(dag, sinfo_text: str) -> None:
    """The checks of check_partitions and check_groups on the jobs a Snakemake DAG will run."""
    requests, groups = {}, {}
    for job in dag.needrun_jobs():
        group = dag.get_job_group(job)
        if group is not None:
            groups.setdefault(group.groupid, group)
        if job.rule.name in requests or job.is_local:
            continue
        res = job.resources
        part = res.get("slurm_partition")
        requests[job.rule.name] = (str(part) if part else None, bool(res.get("gpu")))
    check_partitions(requests, sinfo_text)
    check_groups({gid: int(g.resources.get("gpu", 0) or 0) for gid, g in groups.items()})


def check_groups(gpus: dict[str, int]) -> None:
    """gpus: group id -> GPUs its SLURM job would ask for. More than one means the group's GPU jobs
    were packed side by side, which happens when a GPU job's threads (compute.threads) are fewer
    than the profile's `cores`."""
    wide = {gid: n for gid, n in gpus.items() if n > 1}
    if wide:
        example = ", ".join(f"{gid} ({n} GPUs)" for gid, n in sorted(wide.items())[:3])
        raise BaseselError(f"group jobs would ask SLURM for more than one GPU: {example}. Their GPU jobs run one at a "
                           f"time only when compute.threads (the threads of each) is at least the profile's `cores` "
                           f"(the CPUs of a group job): set cores in {PROFILE} to compute.threads.")


def check_partitions(requests: dict[str, tuple[str | None, bool]], sinfo_text: str) -> None:
    """requests: rule -> (slurm_partition or None, asks for a GPU). Raises BaseselError naming the key."""
    parts = parse_sinfo(sinfo_text)
    listing = ", ".join(f"{p.name}{'*' if p.default else ''} (gres {p.gres})" for p in parts.values()) or "none"
    default = next((p for p in parts.values() if p.default), None)
    problems = []
    for rule, (name, gpu) in sorted(requests.items()):
        if name:
            part = parts.get(name)
            if part is None:
                problems.append(f"rule {rule}: slurm_partition {name!r} is not a partition of this cluster")
                continue
        elif default is None:
            problems.append(f"rule {rule}: no slurm_partition is set and the cluster has no default partition")
            continue
        else:
            part = default
        if gpu and not part.has_gpu:
            problems.append(f"rule {rule} asks for a GPU but partition {part.name!r} has none (gres {part.gres})")
    if problems:
        raise BaseselError(
            "SLURM settings do not fit this cluster:\n  " + "\n  ".join(problems)
            + f"\nPartitions (sinfo): {listing}.\nSet default-resources: slurm_partition (or set-resources per rule) "
            f"in {PROFILE}; for CPU-only partitions set compute.device: cpu in the config, and GPU rules ask for no GPU."
        )
