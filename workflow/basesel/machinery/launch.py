"""Local jobs handed to the warm server by Snakemake's own process, without a process of their own.

With the warm server (warm.py), a job of a `script:` rule still started a Python process only to
hand itself over: Snakemake's thread for the job wrote the script with its preamble and ran it
with `python` under bash; the preamble imported Snakemake to unpickle the job's object (0.13 s
here, before any code of ours), and the script (machinery.glue) then sent that object to the
server and waited for the forked child, for each of the embedded default's 753 jobs.

`install`, from `onstart` once the server runs, makes Snakemake's thread do the hand-over itself:
it builds the job's snakemake object as the preamble would (the same constructor and arguments),
sends it with the environment the job's process would have had (Snakemake's shell() adds the
thread-count variables and the tmpdir resource), and waits for the child's exit status, which it
reports as the job's process would (a failure raises CalledProcessError, as shell() does). What the
server checks is unchanged (the peer's uid, the script one of the workflow's own). The
`benchmark:` record measures the child, which does the job's work, where it measured only the
waiting process before: its wall time, and its CPU time, peak RSS and I/O as the kernel counted
them when the server reaped it. Whenever the job cannot be handed over this way (no server, the server
declines, a conda env, container, module or shadow directory, a notebook edit), Snakemake runs it as
it always does. On Ctrl-C or an exception Snakemake cancels its executor, which now first stops the
children (they run in the server's session, so the terminal's interrupt does not reach them).

It relies on three things of the pinned Snakemake (9.27), which test_warm's workflow runs exercise:
a Python script job ends in PythonScript.execute_script (no job may start a process of its own), the
preamble's Snakemake(...) arguments (the job's object equal to the preamble's), and the local
executor's cancel() (Ctrl-C stops the children).
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from . import warm

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")  # as snakemake.shell sets them
_TMPDIR_VARIABLES = ("TMPDIR", "TMP", "TEMPDIR", "TEMP")

_running: set[int] = set()  # pids of the children of jobs this process handed over, still running
_lock = threading.Lock()
_installed: dict = {}  # what install() replaced, for uninstall()


def install(workflow) -> bool:
    """Hand this local run's Python script jobs to the warm server from Snakemake's own threads
    (called from `onstart`, after warm.start); whether it did."""
    from snakemake.script import PythonScript

    if _installed:
        return True
    executor = getattr(getattr(workflow, "scheduler", None), "_executor", None)
    if executor is None or not hasattr(executor, "cancel"):
        return False
    original_execute, original_cancel = PythonScript.execute_script, executor.cancel

    def execute_script(self, fname, edit=False):
        if edit or not launch(self):
            original_execute(self, fname, edit=edit)

    def cancel():
        stop_children()
        original_cancel()

    PythonScript.execute_script = execute_script
    executor.cancel = cancel
    _installed.update(execute=original_execute, executor=executor)
    return True


def uninstall() -> None:
    """Undo install() (from onsuccess / onerror)."""
    from snakemake.script import PythonScript

    if _installed:
        PythonScript.execute_script = _installed["execute"]
        _installed["executor"].__dict__.pop("cancel", None)
        _installed.clear()


def job_environment(threads, resources) -> dict:
    """The environment Snakemake's shell() gives a job's process: this one's, with every
    thread-count variable set to the job's threads and the tmpdir resource exported."""
    env = dict(os.environ)
    env.update({name: str(threads) for name in _THREAD_VARIABLES})
    tmpdir = resources.get("tmpdir", None)
    if tmpdir:
        env.update({name: tmpdir for name in _TMPDIR_VARIABLES})
    return env


def job_object(script):
    """The snakemake object the preamble of PythonScript `script` would unpickle in the job."""
    from snakemake.iocontainers import Snakemake

    return Snakemake(script.input, script.output, script.params, script.wildcards, script.threads,
                     script.resources, script.log, script.config, script.rulename, script.bench_iteration,
                     script.path.get_basedir().get_path_or_uri(secret_free=True))


def launch(script) -> bool:
    """Run PythonScript `script` as a child of the warm server and wait for it; False (nothing
    done) when it is not one this process can hand over, or the server declines."""
    if not script.is_local or script.conda_env or script.container_img or script.env_modules or script.shadow_dir:
        return False
    path = os.path.realpath(script.path.get_path_or_uri(secret_free=True))  # the preamble's __file__
    sent = warm.submit(job_object(script), path, job_environment(script.threads, script.resources))
    if sent is None:
        return False
    sock, child = sent
    with _lock:
        _running.add(child)
    try:
        status = _wait_measured(sock, child, script.bench_record)
    finally:
        with _lock:
            _running.discard(child)
    if status:
        raise subprocess.CalledProcessError(status, f"{path} (warm start, pid {child})")
    return True


def _wait_measured(sock, child: int, record) -> int:
    """warm.wait, with what the child used written into Snakemake's benchmark record `record` (if
    any): wall time, CPU time, peak RSS and I/O, as the kernel counted them when the server reaped
    it. Snakemake's own monitor polls a job twice a second for its first 15 s, then every 30 s, and
    each look at a forked child's memory map (psutil's memory_full_info) cost 12 ms of kernel time
    here, 3% of a core per running job; USS, PSS and VMS, which only that map gives, are left out
    ("-")."""
    if record is None:
        return warm.wait(sock, child)
    start = time.time()
    status, usage = warm.wait_usage(sock, child)
    record.running_time = time.time() - start
    if usage is not None:
        record.data_collected = True
        record.cpu_time = usage.cpu_seconds
        record.cpu_usage = 100 * usage.cpu_seconds  # mean_load = cpu_usage / running_time, in percent
        record.max_rss = usage.max_rss_mib
        record.io_in, record.io_out = usage.read_mib, usage.written_mib
    return status


def stop_children(signum: int = signal.SIGTERM) -> None:
    """Stop the children of every job handed over from this process (Snakemake cancels its jobs)."""
    with _lock:
        children = list(_running)
    for pid in children:
        warm._kill(pid, signum)
