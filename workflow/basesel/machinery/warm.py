"""Warm start for local runs: one process imports the library once and forks a child per job.

Every Snakemake job is a new Python process, and importing torch and torchvision costs about 5 s
here, more than most of the workflow's per-(base model, target) jobs compute. When Snakemake runs
locally (`compute.warm_start: true`, the default), `onstart` starts this server; Snakemake's own
thread for each job (launch.py), or else the job's script (machinery.glue.run) in its own process,
hands it the script path, the snakemake object, the working directory, environment and standard
streams, and takes the exit status of the forked child, which runs the script exactly as the job
would have (`runpy`, the same `glue.run`). Without a server (cluster jobs, dry runs,
`warm_start: false`, a platform without SO_PEERCRED, or any error reaching it), a script runs in
its own process as usual.

Who may use it: the server runs code as the account that started the run, so only that account
may reach it, whatever the umask or the project folder's permissions:
- the socket lives in a directory made for this server alone (mode 0700, under $XDG_RUNTIME_DIR
  or the system's temporary directory, never in a shared project folder), and is itself 0600;
- every connection's peer is identified by the kernel (SO_PEERCRED) before a byte of it is read:
  another uid is closed unanswered, and nothing it sent is parsed;
- a request runs only one of the workflow's own job scripts (a `*.py` of the scripts folder the
  server was started with); naming any other file is refused, even by the owner, and that job then
  runs in its own process. The request is JSON; the job's pickled snakemake object is unpickled
  only in the forked child, after these checks.

The server is single-threaded (forking from a threaded process can deadlock the child), never
touches CUDA (a forked child could not use it), kills a child whose job process went away, and
exits (removing its socket and directory) when it is told to, when its parent (the Snakemake
process) exits, however it died, or when it is idle for an hour. A child limits its
linear-algebra thread pools to the job's threads (Snakemake's OMP_NUM_THREADS), as a fresh
process would at start, so that results do not depend on the warm start. When a library file
changes under a running server, it stops serving (the job runs in its own process, with the new
code) rather than run stale code.

Protocol on the Unix socket: the job sends, with its stdin/stdout/stderr as passed file
descriptors, an 8-byte length and a JSON header {script, cwd, env}, then an 8-byte length and the
pickled snakemake object; the server answers the child's pid (or REFUSED / STALE), then the
child's exit status and its resource usage as the kernel reports it when the child is reaped
(CPU seconds, peak RSS, blocks read and written: ChildUsage, what a job's benchmark record holds),
as 8-byte integers.
"""
from __future__ import annotations

import gc
import json
import os
import pickle
import selectors
import shutil
import signal
import socket
import stat
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ENV = "BASESEL_WARM"  # the socket path, set for the jobs of a local run
CHILD = "BASESEL_WARM_CHILD"  # set in a forked child: run the script here
# snakemake.iocontainers and snakemake.io: the classes of the job's pickled snakemake object, which each
# child would otherwise import when it unpickles it (Snakemake's own preamble pays that in the job's
# process); basesel.machinery.warm: this file as the module glue.run imports (the server runs it as
# __main__); pandas.io.formats.csvs: what a table's first to_csv imports.
PRELOAD = ("torch", "torchvision", "numpy", "pandas", "pandas.io.formats.csvs", "h5py", "scipy.linalg", "scipy.stats",
           "sklearn.covariance", "sklearn.mixture", "PIL.Image", "threadpoolctl", "snakemake.iocontainers",
           "snakemake.io", "torch.utils.serialization.config", "matplotlib.backends.backend_agg",
           "matplotlib.backends.backend_svg", "matplotlib.backends.backend_mixed", "basesel.machinery.warm",
           "basesel.compute.passes",
           "basesel.compute.layers", "basesel.compute.curves", "basesel.compute.finetune", "basesel.compute.pretrain",
           "basesel.models.zoo", "basesel.science.analysis", "basesel.science.experiments", "basesel.science.costs",
           "basesel.science.pair_scores", "basesel.science.transfer", "basesel.plots", "basesel.data.synthetic",
           "basesel.data.tvdatasets", "basesel.data.folders", "basesel.machinery.glue")
IDLE_SECONDS = 3600
SOCKET_NAME = "warm.sock"
MAX_MESSAGE = 256 * 2**20  # a job's config and snakemake object are far smaller
READ_TIMEOUT = 30.0  # seconds a connected job may take to send its request
_INT = struct.Struct("!q")
_USAGE = struct.Struct("!5q")  # a child's rusage: user and system microseconds, max RSS KiB, blocks in and out
_CREDS = struct.Struct("3i")  # struct ucred: pid, uid, gid

_THREADPOOLS = None  # the server's threadpoolctl.ThreadpoolController, made once after the preload

STALE = -1  # instead of a child's pid: the library changed, run the job yourself
REFUSED = -2  # instead of a child's pid: not one of this workflow's job scripts, run it yourself


def supported() -> bool:
    """Whether this platform can name a socket's peer (Linux's SO_PEERCRED); without it, no server."""
    return hasattr(socket, "SO_PEERCRED") and hasattr(os, "fork")


# --- the job side ---------------------------------------------------------------------------------

def hand_over(snakemake, script: str) -> int | None:
    """Run `script` as this job in a child of the warm server; its exit status, or None when there
    is no server to hand it to, or it declines (the caller then runs the script itself)."""
    sent = submit(snakemake, script, dict(os.environ))
    if sent is None:
        return None
    sock, child = sent
    forward = lambda signum, frame: _kill(child, signum)  # noqa: E731
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    return wait(sock, child)


def submit(snakemake, script: str, env: dict) -> tuple[socket.socket, int] | None:
    """Send one job (its script, snakemake object and environment `env`, this process's working
    directory and standard streams) to the warm server: (the connection, the child's pid), or None
    when there is no server or it declines."""
    path = os.environ.get(ENV)
    if not path or os.environ.get(CHILD) or not os.path.exists(path):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        header = json.dumps({"script": script, "cwd": os.getcwd(), "env": env}).encode()
        blob = pickle.dumps(snakemake)  # unpickled in the child only: the server holds no job state
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        socket.send_fds(sock, [_INT.pack(len(header)) + header], [0, 1, 2])
        sock.sendall(_INT.pack(len(blob)) + blob)
        child = _read_int(sock)
    except OSError:
        sock.close()
        return None  # no server after all: run here
    if child in (STALE, REFUSED):
        sock.close()
        return None
    return sock, child


class ChildUsage(NamedTuple):
    """What a job's child used, from the kernel's accounting when the server reaped it."""
    cpu_seconds: float  # user and system
    max_rss_mib: float  # its peak resident set, pages shared with the server included (as ps counts them)
    read_mib: float  # from storage, not the page cache (as Snakemake's io_in)
    written_mib: float


def wait(sock: socket.socket, child: int) -> int:
    """The exit status of a submitted job's child; 1 (after stopping the child) if the server
    went away first."""
    return wait_usage(sock, child)[0]


def wait_usage(sock: socket.socket, child: int) -> tuple[int, ChildUsage | None]:
    """wait's exit status, and what the child used (None if the server went away before saying)."""
    try:
        status = _read_int(sock)
    except OSError:
        _kill(child, signal.SIGTERM)
        sock.close()
        return 1, None
    try:
        utime_us, stime_us, max_rss_kib, blocks_in, blocks_out = _USAGE.unpack(_read_exact(sock, _USAGE.size))
    except OSError:
        return status, None  # the child's exit status stands
    finally:
        sock.close()
    return status, ChildUsage((utime_us + stime_us) / 1e6, max_rss_kib / 1024, blocks_in * 512 / 2**20,
                              blocks_out * 512 / 2**20)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 1 << 20))
        if not chunk:
            raise ConnectionError("warm server closed the connection")
        data += chunk
    return data


def _read_int(sock: socket.socket) -> int:
    return _INT.unpack(_read_exact(sock, _INT.size))[0]


# --- starting and stopping it (from the Snakefile) ------------------------------------------------

# A Unix socket's path holds at most 107 bytes (sun_path, with its NUL, on Linux), and the server
# binds `<socket>.<pid>` first (a pid has up to 7 digits): a longer path fails in the server's bind.
_SOCKET_PATH_MAX = 107 - len(".4194304")


def _socket_fits(base: str) -> bool:
    """Whether the socket's path in a new folder of private_dir's under `base` fits a Unix socket."""
    return len(os.fsencode(os.path.join(base, "basesel-warm-" + "x" * 8, SOCKET_NAME))) <= _SOCKET_PATH_MAX


def private_dir() -> Path:
    """A new directory that only this account can enter (0700), for the server's socket: under
    $XDG_RUNTIME_DIR when that is this account's private folder, else the system temporary folder
    ($TMPDIR), else, where that path is too long for a socket (a deep job folder), /tmp."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not (base and _owned_private(base) and _socket_fits(base)):
        base = tempfile.gettempdir()
    if not _socket_fits(base):
        base = "/tmp"
    path = Path(tempfile.mkdtemp(prefix="basesel-warm-", dir=base))  # an exclusive mkdir, mode 0700
    os.chmod(path, 0o700)  # whatever the umask (mkdtemp's mode is masked by it)
    if not _owned_private(path):
        shutil.rmtree(path, ignore_errors=True)
        raise OSError(f"{path} is not private to this account")
    return path


def _owned_private(path) -> bool:
    """A real directory (no symlink), owned by this account, that no other account can enter."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def start(lib: str, scripts: str):
    """Start a server that runs the job scripts of folder `scripts` with the library at `lib`, on a
    socket in a new private directory; export the socket's path to the jobs this process will start.
    Returns (server process, socket path), or (None, None) where the platform cannot check peers."""
    import subprocess

    if not supported():
        return None, None
    path = str(private_dir() / SOCKET_NAME)
    proc = subprocess.Popen([sys.executable, "-m", "basesel.machinery.warm", path, str(Path(scripts).resolve())],
                            cwd=os.getcwd(), start_new_session=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([lib, os.environ.get("PYTHONPATH", "")])},
                            stdin=subprocess.DEVNULL)
    os.environ[ENV] = path
    return proc, path


def stop(proc, path: str | None) -> None:
    """Stop a server started by `start`, remove its socket and directory, stop exporting its path."""
    os.environ.pop(ENV, None)
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
    if path:
        _remove(path)


def _remove(path: str) -> None:
    """Remove the socket and its private directory."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    folder = os.path.dirname(path)
    if os.path.basename(folder).startswith("basesel-warm-"):
        shutil.rmtree(folder, ignore_errors=True)


# --- the server -----------------------------------------------------------------------------------

def serve(path: str, scripts: str) -> None:
    """Preload the library, then fork a child per job request until stopped."""
    import importlib

    parent = os.getppid()
    if not _owned_private(os.path.dirname(path)):
        raise SystemExit(f"basesel warm server: {os.path.dirname(path)} is not a private directory of this account")
    allowed = {str(p.resolve()) for p in Path(scripts).glob("*.py")}
    for name in PRELOAD:
        importlib.import_module(name)
    # The preloaded objects stay out of the collector's sight: a full collection in a child would
    # otherwise touch, and so copy, every page of the inherited heap (a fork, a forced collection and
    # an exit: 0.4-0.7 s here, 0.04 s frozen).
    gc.collect()
    gc.freeze()
    global _THREADPOOLS
    from threadpoolctl import ThreadpoolController

    # Found once here: finding the loaded thread pools' libraries cost each child 18 ms.
    _THREADPOOLS = ThreadpoolController()
    server = _Server(path, allowed)
    try:
        server.loop(parent)
    finally:
        server.close()


class _Server:
    """The listening socket, the children forked for jobs, and the loop that serves them."""

    def __init__(self, path: str, allowed: set):
        self.path, self.allowed = path, allowed
        # The basesel files this server imported, listed once: the server imports nothing more (its
        # children import in their own memory), and walking sys.modules for each request (some 3,800
        # modules, each touched, so pages shared with the running children were copied) was 41% of
        # the server's time in a run (py-spy).
        self.library = _library_files()
        self.loaded = _mtimes(self.library)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = f"{path}.{os.getpid()}"
        self.listener.bind(tmp)
        os.chmod(tmp, 0o600)
        self.listener.listen(64)
        os.replace(tmp, path)  # jobs see the socket only once the server is ready
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        # A child's exit wakes the loop at once: SIGCHLD writes a byte to this pipe.
        self.wake, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.selector.register(self.wake, selectors.EVENT_READ)
        self.children: dict[int, socket.socket] = {}  # pid -> the job's connection
        self.accepting, self.stopping = True, False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum, frame):
        self.stopping = True

    def loop(self, parent: int) -> None:
        """Serve until stopped, orphaned (the parent Snakemake died, however), idle for IDLE_SECONDS,
        or stale and done with the children of the old code."""
        last = time.monotonic()
        while not self.stopping and os.getppid() == parent and time.monotonic() - last < IDLE_SECONDS:
            for key, _ in self.selector.select(timeout=1.0):
                if key.fileobj == self.wake:
                    os.read(self.wake, 4096)
                elif key.fileobj is self.listener:
                    self._accept()
                    last = time.monotonic()
                else:  # the job process went away (killed): stop its child
                    self.selector.unregister(key.fileobj)
                    _kill(key.data, signal.SIGTERM)
            _reap(self.children, self.selector)
            if self.children:
                last = time.monotonic()
            elif not self.accepting:
                break

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        uid = peer_uid(conn)
        if uid != os.getuid():  # before a byte is read: nothing of it is parsed
            print(f"basesel warm server: refused a connection from uid {uid}", file=sys.stderr, flush=True)
            conn.close()
            return
        if _mtimes(self.library) != self.loaded:  # edited since this server imported it: stop serving
            conn.sendall(_INT.pack(STALE))
            conn.close()
            self.selector.unregister(self.listener)
            self.listener.close()
            os.unlink(self.path)
            self.accepting = False
            return
        pid = _fork_job(conn, self.listener, self.children, self.allowed)
        if pid is not None:
            self.children[pid] = conn
            self.selector.register(conn, selectors.EVENT_READ, pid)

    def close(self) -> None:
        for pid in list(self.children):
            _kill(pid, signal.SIGTERM)
        if self.accepting:
            self.listener.close()
        _remove(self.path)


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket, as the kernel recorded it."""
    _, uid, _ = _CREDS.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDS.size))
    return uid


def _library_files() -> list[str]:
    """The files of the basesel modules this process has imported."""
    modules = [module for name, module in list(sys.modules.items()) if name.split(".")[0] == "basesel"]
    return sorted({path for module in modules if (path := getattr(module, "__file__", None))})


def _mtimes(paths) -> dict:
    """Modification times of `paths` (None for a file that is gone)."""
    out = {}
    for path in paths:
        try:
            out[path] = os.stat(path).st_mtime_ns
        except OSError:
            out[path] = None
    return out


def _read_request(conn: socket.socket) -> tuple[dict, bytes, list]:
    """(header, pickled snakemake object, the job's three stream fds) of one request."""
    conn.settimeout(READ_TIMEOUT)
    fds = []
    try:
        first, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
        if len(first) < _INT.size or len(fds) != 3:
            raise ConnectionError("malformed request")
        size = _INT.unpack(first[:_INT.size])[0]
        if not 0 < size <= MAX_MESSAGE:
            raise ConnectionError("malformed request")
        rest = first[_INT.size:]
        header = rest[:size] + (_read_exact(conn, size - len(rest)) if len(rest) < size else b"")
        tail = rest[size:]
        tail += _read_exact(conn, _INT.size - len(tail)) if len(tail) < _INT.size else b""
        blob_size = _INT.unpack(tail[:_INT.size])[0]
        if not 0 < blob_size <= MAX_MESSAGE:
            raise ConnectionError("malformed request")
        blob = tail[_INT.size:]
        blob += _read_exact(conn, blob_size - len(blob)) if len(blob) < blob_size else b""
        request = json.loads(header)
        if not (isinstance(request, dict) and isinstance(request.get("script"), str)
                and isinstance(request.get("cwd"), str) and isinstance(request.get("env"), dict)):
            raise ConnectionError("malformed request")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    conn.settimeout(None)
    return request, blob, fds


def _fork_job(conn: socket.socket, listener: socket.socket, children: dict, allowed: set) -> int | None:
    try:
        request, blob, fds = _read_request(conn)
    except Exception:
        conn.close()
        return None
    if os.path.realpath(request["script"]) not in allowed:  # only the workflow's own job scripts
        for fd in fds:
            os.close(fd)
        try:
            conn.sendall(_INT.pack(REFUSED))
        finally:
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
            code = _run_child(request, blob, fds)
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    conn.sendall(_INT.pack(pid))
    return pid


def _run_child(request: dict, blob: bytes, fds) -> int:
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
    os.environ.update({str(k): str(v) for k, v in request["env"].items()})
    os.environ[CHILD] = "1"
    threads = os.environ.get("OMP_NUM_THREADS")  # Snakemake sets it to the job's threads
    if threads and threads.isdigit():
        _THREADPOOLS.limit(limits=int(threads))
    sys.argv = [request["script"]]
    try:
        snakemake = pickle.loads(blob)  # the owner's own job (its uid checked): Snakemake's preamble does the same
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
            pid, status, usage = os.wait4(-1, os.WNOHANG)
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
        measured = _USAGE.pack(round(usage.ru_utime * 1e6), round(usage.ru_stime * 1e6), usage.ru_maxrss,
                               usage.ru_inblock, usage.ru_oublock)
        try:
            conn.sendall(_INT.pack(with_signal) + measured)
        except OSError:
            pass
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
