"""A real single-node SLURM cluster on loopback, for the profile test (and by hand).

    python tests/slurm_cluster.py start   # installs Debian's packages if missing, starts the daemons
    python tests/slurm_cluster.py stop    # stops the daemons this module started, by their PIDs

SLURM reads its config from /etc/slurm/slurm.conf only (the Snakemake plugin strips SLURM_CONF
before its inner srun), so the generated config goes there, marked as ours; a slurm.conf that is
not ours is never touched. Node and partition: this machine, all its CPUs and memory, one pretend
GPU (gres File=/dev/null) so that `--gpus=1` requests are accepted. No accounting daemon, so the
Snakemake profile must ask squeue for job states.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CONF = Path("/etc/slurm/slurm.conf")
GRES = Path("/etc/slurm/gres.conf")
MARK = "# written by basesel tests/slurm_cluster.py"
STATE = Path(os.environ.get("BASESEL_SLURM_STATE", "/tmp/basesel-slurm"))
PARTITION = "basesel"
GPU_FILES = ["/dev/null", "/dev/zero"]  # as many pretend GPUs as CPUs here, so GPU jobs do not queue
GPUS = len(GPU_FILES)
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
DAEMONS = ["slurmd", "slurmctld", "munged"]  # stop order


class Unavailable(RuntimeError):
    """SLURM cannot be set up here (not root, no apt, a foreign slurm.conf)."""


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def install() -> None:
    if all(shutil.which(b) for b in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    if os.geteuid() != 0:
        raise Unavailable("SLURM is not installed and installing it needs root")
    if not shutil.which("apt-get"):
        raise Unavailable("SLURM is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):
        out = _run(cmd, env=env, timeout=900)
        if out.returncode != 0:
            raise Unavailable(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")


def _memory_mb() -> int:
    out = _run(["slurmd", "-C"]).stdout
    for word in out.split():
        if word.startswith("RealMemory="):
            return int(word.split("=")[1])
    raise RuntimeError(f"slurmd -C printed no RealMemory: {out!r}")


def write_config() -> None:
    if CONF.exists() and MARK not in CONF.read_text():
        raise Unavailable(f"{CONF} exists and was not written by this test; not replacing a real cluster's config")
    host = socket.gethostname().split(".")[0]
    for d in ("state", "spool"):
        (STATE / d).mkdir(parents=True, exist_ok=True)
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(f"""{MARK}
ClusterName=basesel
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MinJobAge=7200
StateSaveLocation={STATE}/state
SlurmdSpoolDir={STATE}/spool
SlurmctldPidFile={STATE}/slurmctld.pid
SlurmdPidFile={STATE}/slurmd.pid
SlurmctldLogFile={STATE}/slurmctld.log
SlurmdLogFile={STATE}/slurmd.log
GresTypes=gpu
NodeName={host} CPUs={os.cpu_count()} RealMemory={_memory_mb()} Gres=gpu:{GPUS} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    # Pretend GPUs: SLURM needs a device file per GPU (without File= the node drains).
    GRES.write_text(MARK + "\n" + "".join(f"NodeName={host} Name=gpu File={f}\n" for f in GPU_FILES))


def _pid(name: str) -> int | None:
    path = STATE / f"{name}.pid"
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def start(timeout: float = 60) -> None:
    install()
    write_config()
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    cmds = {
        "munged": ["munged", "--force", f"--pid-file={STATE}/munged.pid"],
        "slurmctld": ["slurmctld"],
        "slurmd": ["slurmd"],
    }
    for name in ("munged", "slurmctld", "slurmd"):
        if _alive(_pid(name)):
            continue
        out = _run(cmds[name])
        if out.returncode != 0:
            stop()
            raise RuntimeError(f"{name} failed to start: {out.stderr.strip()}\n{_tail(name)}")
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = _run(["sinfo", "-h", "-N", "-o", "%T"]).stdout.strip()
        if state in ("idle", "mixed", "allocated"):
            return
        time.sleep(0.5)
    stop()
    raise RuntimeError(f"the node did not become idle in {timeout:.0f} s (sinfo: {state!r})\n{_tail('slurmctld')}\n{_tail('slurmd')}")


def _tail(name: str, n: int = 20) -> str:
    path = STATE / f"{name}.log"
    if not path.exists():
        return ""
    return f"--- {path} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def stop() -> None:
    """Stop every daemon started here, by the PID it wrote; wait until each has exited. Then remove
    the config written here: with a slurm.conf and no controller, `scontrol` retries for 9 s, and
    the SLURM executor plugin runs it whenever Snakemake starts (every later test would pay it)."""
    for name in DAEMONS:
        pid = _pid(name)
        if not _alive(pid):
            continue
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    for path in (CONF, GRES):
        if path.exists() and MARK in path.read_text():
            path.unlink()


def controller_log() -> str:
    path = STATE / "slurmctld.log"
    return path.read_text(errors="replace") if path.exists() else ""


if __name__ == "__main__":
    {"start": start, "stop": stop}[sys.argv[1]]()
