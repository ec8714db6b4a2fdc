"""Back on its feet after a crash: what `make run` does before it starts Snakemake.

Snakemake locks its working directory (`.snakemake/locks/`) for the length of a run and removes the
lock when the run ends. A run that dies without ending (`kill -9`, the OOM killer, a power cut, a
dropped ssh session) leaves the lock behind, and every later run stops with a LockException until
`snakemake --unlock`. The lock is stale exactly when no Snakemake process is alive for the
directory; then it is removed here, and said so. When one is alive, nothing is unlocked and the
live run is named: unlocking under it would let two runs write the same files.

Job processes the dead run left behind (a job in its own process outlives its Snakemake; the
warm server's children, which it stops when its Snakemake dies, outlive a server killed with it) are
stopped first: their outputs were never recorded as complete, so the next run reruns those jobs
(training resumes from its last saved epoch), and two processes would otherwise train the
same model side by side.

Processes are read from /proc (Linux). A Snakemake process of another account whose folder cannot
be read might be using this one: with a lock present, nothing is unlocked and the process is named.

    python -m basesel.machinery.runlock [SNAKEMAKE ARGS]    (make run calls it; exit status 1: a live run)
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    pid: int
    uid: int
    argv: tuple[str, ...]
    cwd: Path | None  # None where /proc does not let this account read it

    @property
    def command(self) -> str:
        return " ".join(self.argv)


def processes(proc: Path = Path("/proc")) -> list[Process]:
    """Every process this account can see, but this one and its parents."""
    mine = _ancestors(os.getpid())
    out = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            argv = tuple(a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a)
            uid = entry.stat().st_uid
        except OSError:
            continue  # gone meanwhile
        if not argv:
            continue  # a kernel thread or a zombie
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            cwd = None
        out.append(Process(int(entry.name), uid, argv, cwd))
    return out


def _ancestors(pid: int) -> set[int]:
    seen = {pid}
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the command name is the parent
        seen.add(pid)
    return seen


def is_snakemake(argv) -> bool:
    """`snakemake ...`, `python .../bin/snakemake ...` or `python -m snakemake ...`."""
    names = [os.path.basename(a) for a in argv[:2]]
    return "snakemake" in names or (len(argv) > 2 and argv[1] == "-m" and argv[2] == "snakemake")


def snakemake_directory(p: Process) -> Path | None:
    """The working directory a Snakemake process runs in (its --directory, else its own); None
    when that cannot be known (another account's process without an absolute --directory)."""
    argv = list(p.argv)
    given = None
    for i, a in enumerate(argv):
        if a in ("--directory", "-d") and i + 1 < len(argv):
            given = argv[i + 1]
        elif a.startswith("--directory="):
            given = a.split("=", 1)[1]
    if given is not None and os.path.isabs(given):
        return Path(given).resolve()
    if p.cwd is None:
        return None
    return (p.cwd / given).resolve() if given else p.cwd.resolve()


def is_job(p: Process, directory: Path) -> bool:
    """A Snakemake job's script (`python .snakemake/scripts/tmpXXXX.name.py`) run in `directory`,
    or a warm server of a run there or a job's child it forked (`python -m basesel.machinery.warm`,
    the child keeping its server's command line)."""
    if p.cwd is None or p.cwd.resolve() != directory or len(p.argv) < 2 or p.uid != os.getuid():
        return False
    return "/.snakemake/scripts/" in "/" + p.argv[1] or tuple(p.argv[1:3]) == ("-m", "basesel.machinery.warm")


def stop(pids, wait: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is still alive after `wait` seconds."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def recover(directory: Path, snakemake_args=(), out=None) -> int:
    """Make `directory` ready for a new run: 0 when it is (a stale lock removed, orphaned jobs
    stopped, where there were any), 1 when a live Snakemake process uses it (named in the message)."""
    out = out or sys.stdout
    directory = directory.resolve()
    locks = sorted((directory / ".snakemake" / "locks").glob("*.lock"))
    if not Path("/proc/self").exists():  # not Linux: no way to tell a live run from a dead one
        if locks:
            print(f"basesel: {directory} is locked by a Snakemake run; if none is running, remove the lock with "
                  f"`snakemake --unlock`", file=out)
        return 0
    seen = processes()
    live, unknown = [], []
    for p in seen:
        if is_snakemake(p.argv):
            where = snakemake_directory(p)
            if where == directory:
                live.append(p)
            elif where is None:
                unknown.append(p)
    if live:
        names = "; ".join(f"pid {p.pid}: {p.command}" for p in live)
        print(f"basesel: a Snakemake run is alive in {directory} ({names}). Wait for it to end or stop it; "
              f"make run does not start a second run beside it, nor unlock under it.", file=out)
        return 1
    orphans = [p for p in seen if is_job(p, directory)]
    if orphans:
        print(f"basesel: stopping {len(orphans)} process(es) left by a run that died, its jobs or warm server "
              f"({', '.join(str(p.pid) for p in orphans)}); their jobs run again", file=out)
        stop([p.pid for p in orphans])
    if not locks:
        return 0
    if unknown:
        names = "; ".join(f"pid {p.pid} (uid {p.uid})" for p in unknown)
        print(f"basesel: {directory} is locked, and Snakemake processes of other accounts whose folders cannot be "
              f"read are running ({names}). If none of them runs here, remove the lock with `snakemake --unlock`.",
              file=out)
        return 1
    subprocess.run([sys.executable, "-m", "snakemake", "--unlock", *snakemake_args], cwd=directory, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    print(f"basesel: removed a stale lock of {directory}: no Snakemake process is alive for it "
          f"(a run died without ending: kill -9, out of memory, a lost session)", file=out)
    return 0


def main(argv=None) -> int:
    """`python -m basesel.machinery.runlock [SNAKEMAKE ARGS]`: the folder is Snakemake's (its --directory, else
    this one); the arguments are passed on to `snakemake --unlock`."""
    args = list(sys.argv[1:] if argv is None else argv)
    directory = snakemake_directory(Process(os.getpid(), os.getuid(), ("snakemake", *args), Path.cwd()))
    try:
        return recover(directory, args)
    except subprocess.CalledProcessError as exc:
        print(f"basesel: snakemake --unlock failed:\n{exc.stderr}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
