"""Warm start for local runs: one process imports the library once and forks a child per job.

Every Snakemake job is a new Python process, and importing torch and torchvision costs about 5 s
here, more than most of the workflow's per-(base model, target) jobs compute. When Snakemake runs
locally (`compute.warm_start: true`, the default), `onstart` starts this server; each job script
(smk.run) hands it its script path, its snakemake object, its working directory, environment and
standard streams, and exits with the status of the forked child, which runs the script exactly as
the job would have (`runpy`, the same `smk.run`). Without a server (cluster jobs, dry runs,
`warm_start: false`, or any error reaching it), a script runs in its own process as usual.

The server is single-threaded (forking from a threaded process can deadlock the child), never
touches CUDA (a forked child could not use it), kills a child whose job process went away, and
exits when it is told to, when its parent (the Snakemake process) exits, or when it is idle for an
hour. A child limits its linear-algebra thread pools to the job's threads (Snakemake's
OMP_NUM_THREADS), as a fresh process would at start, so that results do not depend on the warm
start. When a library file changes under a running server, it stops serving (the job runs in its
own process, with the new code) rather than run stale code. Protocol on a Unix socket: the job sends a length-prefixed pickle {script, snakemake, cwd,
env} with its stdin/stdout/stderr as passed file descriptors; the server answers the child's pid,
then its exit status, as 8-byte integers.
"""
from __future__ import annotations

import os
import pickle
import selectors
import signal
import socket
import struct
import sys
import time

ENV = "BASESEL_WARM"  # the socket path, set for the jobs of a local run
CHILD = "BASESEL_WARM_CHILD"  # set in a forked child: run the script here
PRELOAD = ("torch", "torchvision", "numpy", "pandas", "h5py", "scipy.linalg", "scipy.stats", "sklearn.covariance",
           "sklearn.mixture", "PIL.Image", "threadpoolctl", "basesel.featuremaps", "basesel.layers", "basesel.curves",
           "basesel.finetune", "basesel.training", "basesel.analysis", "basesel.experiments", "basesel.plots",
           "basesel.transfer", "basesel.synthetic", "basesel.tvdatasets", "basesel.data", "basesel.costs",
           "basesel.smk")
IDLE_SECONDS = 3600
_INT = struct.Struct("!q")


# --- the job side ---------------------------------------------------------------------------------

STALE = -1  # the server's answer instead of a child's pid: the library changed, run the job yourself


def hand_over(snakemake, script: str) -> int | None:
    """Run `script` as this job in a child of the warm server; its exit status, or None when there
    is no server to hand it to (the caller then runs the script itself)."""
    path = os.environ.get(ENV)
    if not path or os.environ.get(CHILD) or not os.path.exists(path):
        return None
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        # The snakemake object is unpickled in the child only: the server holds no job state.
        payload = pickle.dumps({"script": script, "snakemake": pickle.dumps(snakemake), "cwd": os.getcwd(),
                                "env": dict(os.environ)})
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        socket.send_fds(sock, [_INT.pack(len(payload)) + payload], [0, 1, 2])
        child = _read_int(sock)
    except OSError:
        return None  # no server after all: run here
    if child == STALE:
        return None
    forward = lambda signum, frame: _kill(child, signum)  # noqa: E731
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        return _read_int(sock)
    except OSError:
        _kill(child, signal.SIGTERM)
        return 1


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("warm server closed the connection")
        data += chunk
    return data


def _read_int(sock: socket.socket) -> int:
    return _INT.unpack(_read_exact(sock, _INT.size))[0]


# --- starting and stopping it (from the Snakefile) ------------------------------------------------

def start(path: str, lib: str):
    """Start a server listening on `path` (a Unix socket, created when the server is ready) and
    export its path to the jobs this process will start; returns the server process."""
    import subprocess

    if os.path.exists(path):
        os.unlink(path)
    proc = subprocess.Popen([sys.executable, "-m", "basesel.warm", path], cwd=os.getcwd(), start_new_session=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([lib, os.environ.get("PYTHONPATH", "")])},
                            stdin=subprocess.DEVNULL)
    os.environ[ENV] = path
    return proc


def stop(proc, path: str) -> None:
    """Stop a server started by `start` and stop exporting its path."""
    os.environ.pop(ENV, None)
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
    if os.path.exists(path):
        os.unlink(path)


# --- the server -----------------------------------------------------------------------------------

def serve(path: str) -> None:
    """Preload the library, then fork a child per job request until stopped."""
    import importlib

    parent = os.getppid()
    for name in PRELOAD:
        importlib.import_module(name)
    loaded = _library_files()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    listener.bind(tmp)
    listener.listen(64)
    os.replace(tmp, path)  # jobs see the socket only once the server is ready
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    # A child's exit wakes the loop at once: SIGCHLD writes a byte to this pipe.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    selector.register(wake_r, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}  # pid -> the job's connection
    stopping = False

    def stop_serving(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop_serving)
    signal.signal(signal.SIGINT, stop_serving)
    last = time.monotonic()
    accepting = True
    try:
        while not stopping and os.getppid() == parent and time.monotonic() - last < IDLE_SECONDS:
            for key, _ in selector.select(timeout=1.0):
                if key.fileobj == wake_r:
                    os.read(wake_r, 4096)
                elif key.fileobj is listener:
                    conn, _ = listener.accept()
                    if _library_files() != loaded:  # edited since this server imported it: stop serving
                        conn.sendall(_INT.pack(STALE))
                        conn.close()
                        selector.unregister(listener)
                        listener.close()
                        os.unlink(path)
                        accepting = False
                        continue
                    pid = _fork_job(conn, listener, children)
                    if pid is not None:
                        children[pid] = conn
                        selector.register(conn, selectors.EVENT_READ, pid)
                    last = time.monotonic()
                else:  # the job process went away (killed): stop its child
                    selector.unregister(key.fileobj)
                    _kill(key.data, signal.SIGTERM)
            _reap(children, selector)
            if children:
                last = time.monotonic()
            elif not accepting:
                break  # the children of the old code are done
    finally:
        for pid in list(children):
            _kill(pid, signal.SIGTERM)
        if accepting:
            listener.close()
            if os.path.exists(path):
                os.unlink(path)


def _library_files() -> dict:
    """Modification times of the basesel files this process has imported."""
    out = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and name.split(".")[0] == "basesel":
            try:
                out[path] = os.stat(path).st_mtime_ns
            except OSError:
                out[path] = None
    return out


def _fork_job(conn: socket.socket, listener: socket.socket, children: dict) -> int | None:
    try:
        first, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
        if len(first) < _INT.size or len(fds) != 3:
            raise ConnectionError("malformed request")
        size = _INT.unpack(first[:_INT.size])[0]
        payload = first[_INT.size:]
        if len(payload) < size:
            payload += _read_exact(conn, size - len(payload))
        request = pickle.loads(payload)
    except Exception:
        conn.close()
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            listener.close()
            for other in children.values():
                other.close()
            conn.close()
            code = _run_child(request, fds)
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    conn.sendall(_INT.pack(pid))
    return pid


def _run_child(request: dict, fds) -> int:
    """In the forked child: become the job's process, run its script, return its exit status."""
    import runpy
    import traceback

    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[CHILD] = "1"
    threads = os.environ.get("OMP_NUM_THREADS")  # Snakemake sets it to the job's threads
    if threads and threads.isdigit():
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(threads))
    sys.argv = [request["script"]]
    try:
        snakemake = pickle.loads(request["snakemake"])
        runpy.run_path(request["script"], init_globals={"snakemake": snakemake}, run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def _reap(children: dict, selector) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        with_signal = 128 - code if code < 0 else code  # killed by a signal: 128 + its number, as a shell reports
        try:
            selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        try:
            conn.sendall(_INT.pack(with_signal))
        except OSError:
            pass
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
