"""Warm start: a job handed to the warm server runs in a forked child as it would run alone (its
directory, environment, streams, thread pools, exit status), dies with its job process, and runs in
its own process whenever there is no server, or the library changed under the server. Only its
owner can reach the server, and it runs only the workflow's own job scripts."""
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from helpers import ROOT

LIB = ROOT / "workflow"
SCRIPT = '''
import json, os, sys, time
from types import SimpleNamespace
sys.path.insert(0, {lib!r})
if "snakemake" not in globals():  # a Snakemake job's preamble defines it
    job = json.loads(os.environ["TEST_JOB"])
    snakemake = SimpleNamespace(log=[job["log"]], threads=1, rule="test", output=[job["out"]],
                                params=SimpleNamespace(**job["params"]))
from basesel.machinery.glue import run


def main(smk):
    import torch
    from threadpoolctl import threadpool_info

    import basesel.io
    from basesel import BaseselError

    print("hello on stdout", flush=True)
    print("hello on stderr", file=sys.stderr, flush=True)
    with open(smk.output[0], "w") as f:
        json.dump({{"pid": os.getpid(), "uid": os.getuid(), "cwd": os.getcwd(), "mark": os.environ.get("MARK"),
                   "threads": torch.get_num_threads(), "child": "BASESEL_WARM_CHILD" in os.environ,
                   "blas_threads": sorted({{p["num_threads"] for p in threadpool_info()}}),
                   "edited": getattr(basesel.io, "EDITED", False)}}, f)
    if smk.params.fail:
        raise BaseselError("bad input")
    time.sleep(smk.params.sleep)


run(snakemake, main, torch_threads=True)
'''


def write_script(folder: Path, lib: Path = LIB) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.py"
    path.write_text(SCRIPT.format(lib=str(lib)))
    return path


def job(script, workdir, socket_path=None, fail=False, sleep=0.0, wait=True, threads="1"):
    env = {**os.environ, "MARK": "from-the-job", "OMP_NUM_THREADS": threads, "TEST_JOB": json.dumps(
        {"log": str(workdir / "job.log"), "out": str(workdir / "out.json"), "params": {"fail": fail, "sleep": sleep}})}
    env.pop("BASESEL_WARM", None)
    if socket_path is not None:
        env["BASESEL_WARM"] = str(socket_path)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def gone(pid: int, seconds: float = 10.0) -> bool:
    """Whether process `pid` has exited within `seconds`."""
    for _ in range(int(seconds * 10)):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def start_server(lib, scripts, env=None):
    """A warm server (its socket path not exported to this process: tests pass it explicitly)."""
    from basesel.machinery import warm

    saved = os.environ.copy()
    os.environ.update(env or {})
    try:
        proc, path = warm.start(str(lib), str(scripts))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for _ in range(600):  # the server creates the socket once it has imported the library
        if os.path.exists(path):
            return proc, Path(path)
        assert proc.poll() is None, "the warm server exited"
        time.sleep(0.1)
    raise AssertionError("the warm server did not start")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scripts")
    write_script(folder)
    return folder


@pytest.fixture
def script(scripts):
    return scripts / "job.py"


@pytest.fixture(scope="module")
def server(scripts):
    from basesel.machinery import warm

    # The server's own pools would use 3 threads; a job asking for 1 must get 1 (see the test).
    proc, path = start_server(LIB, scripts, env={"OMP_NUM_THREADS": "3"})
    yield proc, path
    warm.stop(proc, str(path))
    assert proc.poll() is not None and not path.exists() and not path.parent.exists()


def test_without_a_server_a_job_runs_in_its_own_process(script, tmp_path):
    code, out, err = job(script, tmp_path)
    assert code == 0, err
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["child"] is False and result["threads"] == 1 and result["blas_threads"] == [1]
    assert "hello on stdout" in out and "hello on stderr" in (tmp_path / "job.log").read_text()


def test_a_handed_over_job_runs_as_it_would_alone(server, script, tmp_path):
    _, path = server
    code, out, err = job(script, tmp_path, path)
    assert code == 0, err
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["child"] is True  # it did run in the server's child
    assert result["cwd"] == str(tmp_path) and result["mark"] == "from-the-job" and result["threads"] == 1
    # the linear-algebra pools the server started with 3 threads run the job's OMP_NUM_THREADS
    assert result["blas_threads"] == [1]
    assert "hello on stdout" in out  # the job's own streams
    assert "hello on stderr" in (tmp_path / "job.log").read_text()


def test_a_failing_job_fails_with_its_message(server, script, tmp_path):
    _, path = server
    code, out, err = job(script, tmp_path, path, fail=True)
    assert code == 1
    assert "basesel: error in rule test: bad input" in err
    assert "Traceback" not in err


def test_killing_the_job_kills_its_child(server, script, tmp_path):
    _, path = server
    proc = job(script, tmp_path, path, sleep=60, wait=False)
    for _ in range(300):
        if (tmp_path / "out.json").exists() and (tmp_path / "out.json").read_text():
            break
        time.sleep(0.1)
    child = json.loads((tmp_path / "out.json").read_text())["pid"]
    assert child != proc.pid
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    if not gone(child):
        pytest.fail(f"the child {child} outlived its job")


def test_a_changed_library_makes_jobs_run_in_their_own_process_with_the_new_code(tmp_path):
    """Code edited under a running server: the server stops serving rather than run stale code,
    and the job, run in its own process, sees the edit."""
    import shutil

    from basesel.machinery import warm

    lib = tmp_path / "lib"
    shutil.copytree(LIB / "basesel", lib / "basesel", ignore=shutil.ignore_patterns("__pycache__"))
    folder = tmp_path / "scripts"
    copy = write_script(folder, lib)
    proc, path = start_server(lib, folder)
    try:
        work = tmp_path / "work"
        work.mkdir()
        code, _, err = job(copy, work, path)
        result = json.loads((work / "out.json").read_text())
        assert code == 0 and result["child"] is True and result["edited"] is False, err
        module = lib / "basesel" / "io.py"
        module.write_text(module.read_text() + "\nEDITED = True\n")
        code, _, err = job(copy, work, path)
        result = json.loads((work / "out.json").read_text())
        assert code == 0 and result["child"] is False and result["edited"] is True, err
        proc.wait(timeout=30)  # and it has stopped, its socket and folder gone
        assert not path.parent.exists()
    finally:
        warm.stop(proc, str(path))


# --- who may use it ---------------------------------------------------------------------------------

def test_socket_and_folder_are_private_under_a_group_umask(scripts, tmp_path):
    """Under umask 002 (shared project folders) the socket is 0600 in a 0700 folder of its own,
    outside the working directory."""
    from basesel.machinery import warm

    old = os.umask(0o002)
    try:
        proc, path = start_server(LIB, scripts)
    finally:
        os.umask(old)
    try:
        folder = path.parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == os.getuid()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_ISSOCK(path.stat().st_mode)
        assert Path.cwd() not in folder.parents
        assert folder.parent in {Path(tempfile.gettempdir()), Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent")),
                                 Path("/tmp")}
    finally:
        warm.stop(proc, str(path))
    assert not folder.exists()


def test_a_deep_temporary_folder_still_gets_a_server(scripts, script, tmp_path, monkeypatch):
    """A $TMPDIR so deep that a socket under it would pass the 107 bytes a Unix socket's path holds
    (a cluster's job folder, a nested test folder): the server's folder goes to /tmp instead, the
    server starts and serves, and nothing is left. (Before, the server died in its bind with
    `OSError: AF_UNIX path too long`, and the run went on without it.)"""
    from basesel.machinery import warm

    deep = tmp_path / ("d" * 40) / ("e" * 40)
    deep.mkdir(parents=True)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    proc, path = start_server(LIB, scripts)
    try:
        assert path.parent.parent == Path("/tmp")
        code, _, err = job(script, tmp_path, path)
        assert code == 0 and json.loads((tmp_path / "out.json").read_text())["child"] is True, err
    finally:
        warm.stop(proc, str(path))
    assert not path.parent.exists()
    short = Path(tempfile.mkdtemp(dir="/tmp"))  # a folder whose path fits is kept (tmp_path may not fit)
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(short))
        folder = warm.private_dir()
        assert folder.parent == short
    finally:
        shutil.rmtree(short)


def request(path, script, workdir, out):
    """A raw request, as a job would send it, naming `script`; the server's first answer (None
    when it closed the connection without one)."""
    env = {"TEST_JOB": json.dumps({"log": str(workdir / "job.log"), "out": str(out),
                                   "params": {"fail": False, "sleep": 0.0}})}
    header = json.dumps({"script": str(script), "cwd": str(workdir), "env": env}).encode()
    import pickle
    from types import SimpleNamespace

    blob = pickle.dumps(SimpleNamespace(log=[str(workdir / "job.log")], threads=1, rule="test", output=[str(out)],
                                        params=SimpleNamespace(fail=False, sleep=0.0)))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(path))
    with open(os.devnull, "rb") as i, open(os.devnull, "wb") as o:
        try:  # a server that closes the connection unread may do so before the request is sent
            socket.send_fds(sock, [struct.pack("!q", len(header)) + header], [i.fileno(), o.fileno(), o.fileno()])
            sock.sendall(struct.pack("!q", len(blob)) + blob)
            answer = sock.recv(8)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
    sock.close()
    return struct.unpack("!q", answer)[0] if len(answer) == 8 else None


def test_a_request_for_any_other_file_is_refused_even_from_the_owner(server, tmp_path):
    from basesel.machinery import warm

    _, path = server
    other = write_script(tmp_path / "elsewhere")  # the same code, but not one of the workflow's scripts
    out = tmp_path / "out.json"
    assert request(path, other, tmp_path, out) == warm.REFUSED
    time.sleep(0.5)
    assert not out.exists()  # nothing ran
    # a job whose script is refused runs in its own process instead
    code, _, err = job(other, tmp_path, path)
    assert code == 0 and json.loads(out.read_text())["child"] is False, err


OTHER_USER = "basesel-test-other"


@pytest.fixture(scope="module")
def other_uid():
    """A throwaway account (created when the tests run as root, as in CI), removed afterwards."""
    reason = None
    if os.geteuid() != 0:
        reason = "needs root to create a second account"
    elif not Path("/usr/sbin/useradd").exists():
        reason = "needs useradd to create a second account"
    if reason:
        if os.environ.get("BASESEL_REQUIRE_SECOND_UID"):
            pytest.fail(f"the second-account test is required here but cannot run: {reason}")
        pytest.skip(reason)
    created = False
    try:
        pwd.getpwnam(OTHER_USER)
    except KeyError:
        subprocess.run(["/usr/sbin/useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER],
                       check=True)
        created = True
    entry = pwd.getpwnam(OTHER_USER)
    yield entry.pw_uid, entry.pw_gid
    if created:
        subprocess.run(["/usr/sbin/userdel", OTHER_USER], check=False)


def as_user(uid, gid, fn):
    """fn() run in a forked process with the other account's uid; its JSON-able result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            try:
                result = {"ok": fn()}
            except Exception as exc:
                result = {"error": type(exc).__name__}
            os.write(w, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def test_another_account_can_neither_reach_nor_use_the_server(server, script, other_uid, tmp_path):
    """The exploit of issue 17: another account sends a request naming a job script. Its folder keeps
    the other account out; and with the folder and socket opened up (as a careless site might), the
    server still refuses the peer before reading its request, and runs nothing."""
    uid, gid = other_uid
    _, path = server
    # Not under tmp_path, whose parents (0700) keep the other account out; world-writable, so removed.
    shared = Path(tempfile.mkdtemp(prefix="basesel-other-"))
    try:
        _another_account_refused(path, script, shared, uid, gid, tmp_path)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _another_account_refused(path, script, shared, uid, gid, tmp_path):
    os.chmod(shared, 0o777)
    out = shared / "out.json"
    reach = as_user(uid, gid, lambda: request(path, script, shared, out))
    assert reach == {"error": "PermissionError"}, reach  # the private folder
    folder_mode, socket_mode = stat.S_IMODE(path.parent.stat().st_mode), stat.S_IMODE(path.stat().st_mode)
    os.chmod(path.parent, 0o711)
    os.chmod(path, 0o666)
    try:
        answer = as_user(uid, gid, lambda: request(path, script, shared, out))
    finally:
        os.chmod(path.parent, folder_mode)
        os.chmod(path, socket_mode)
    assert answer == {"ok": None}, answer  # closed without an answer
    time.sleep(0.5)
    assert not out.exists()  # nothing ran, as anyone
    # and the owner's jobs still run
    code, _, err = job(script, tmp_path, path)
    assert code == 0 and json.loads((tmp_path / "out.json").read_text())["child"] is True, err


# --- Snakemake's threads hand the jobs over (machinery/launch.py) -----------------------------------

LAUNCH_SNAKEFILE = '''
import os, sys, time
sys.path.insert(0, {lib!r})
from snakemake.script import PythonScript
from basesel.machinery import launch, warm

_spawn = PythonScript.execute_script


def _spawning(self, fname, edit=False):  # a job run in a process of its own leaves a mark
    open(f"spawned-{{self.wildcards.i}}", "w").close()
    return _spawn(self, fname, edit=edit)


PythonScript.execute_script = _spawning
W = {{"proc": None, "socket": None}}


def stop():
    launch.uninstall()
    warm.stop(W["proc"], W["socket"])


onstart:
    if config["warm"]:
        W["proc"], W["socket"] = warm.start({lib!r}, {scripts!r})
        while not os.path.exists(W["socket"]):  # the test wants every job handed over
            time.sleep(0.1)
        launch.install(workflow)


onsuccess:
    stop()


onerror:
    stop()


rule all:
    input:
        expand("out/{{i}}.json", i=[1, 2]),


rule job:
    output:
        "out/{{i}}.json",
    log:
        "logs/{{i}}.log",
    benchmark:
        "bench/{{i}}.tsv"
    params:
        fail=config.get("fail", False),
        sleep=config.get("sleep", 0),
        nested={{"a": [1, 2], "b": "x"}},
    threads: 2
    resources:
        mem_mb=100,
        tmpdir="{tmpdir}",
    script:
        "scripts/job.py"
'''

LAUNCH_JOB = '''
from basesel.machinery.glue import run


def main(smk):
    import json, os, sys, time
    from basesel import BaseselError

    view = {"input": list(smk.input), "output": list(smk.output), "params": dict(smk.params.items()),
            "wildcards": dict(smk.wildcards.items()), "threads": smk.threads, "resources": dict(smk.resources.items()),
            "log": list(smk.log), "config": {k: v for k, v in smk.config.items() if k != "warm"}, "rule": smk.rule,
            "scriptdir": smk.scriptdir, "bench_iteration": smk.bench_iteration, "cwd": os.getcwd(),
            "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TMPDIR", "TEMP", "MARK")}}
    print(f"job {smk.wildcards.i} on stderr", file=sys.stderr)
    with open(smk.output[0] + ".part", "w") as f:
        json.dump({"view": view, "child": "BASESEL_WARM_CHILD" in os.environ, "pid": os.getpid()}, f)
    os.replace(smk.output[0] + ".part", smk.output[0])
    if smk.params.fail:
        raise BaseselError("bad input")
    held = b"x" * (300 * 2**20)  # resident, for the benchmark's peak RSS
    start = time.process_time()
    while time.process_time() - start < 0.4:  # CPU time, for its cpu_time
        pass
    del held
    time.sleep(smk.params.sleep)


run(snakemake, main)
'''


def launch_workflow(folder: Path) -> Path:
    (folder / "scripts").mkdir(parents=True)
    (folder / "scripts" / "job.py").write_text(LAUNCH_JOB)
    (folder / "tmp").mkdir()
    (folder / "Snakefile").write_text(LAUNCH_SNAKEFILE.format(lib=str(LIB), scripts=str(folder / "scripts"),
                                                              tmpdir=str(folder / "tmp")))
    return folder


def snakemake_run(folder: Path, wait=True, **config):
    env = {**os.environ, "MARK": "from-the-run"}
    env.pop("BASESEL_WARM", None)
    args = [sys.executable, "-m", "snakemake", "--cores", "4", "--directory", str(folder), "-s",
            str(folder / "Snakefile"), "--config", *(f"{k}={v}" for k, v in config.items())]
    # SIGINT as a terminal gives it: a test run in the background (`cmd &`) inherits it ignored
    proc = subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    if not wait:
        return proc
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def test_snakemake_hands_a_job_over_with_what_its_process_would_have_seen(tmp_path):
    """The same workflow with and without the launch: the job sees the same snakemake object
    (the preamble's against launch.job_object), directory and environment; handed over, no job
    had a process of its own, and the benchmark measured the child (the 0.4 s of CPU and the 300 MiB
    the job holds)."""
    views = {}
    for warm_start in (False, True):
        folder = launch_workflow(tmp_path / str(warm_start))
        code, out = snakemake_run(folder, warm=warm_start)
        assert code == 0, out
        results = {i: json.loads((folder / "out" / f"{i}.json").read_text()) for i in (1, 2)}
        assert all(r["child"] is warm_start for r in results.values())
        assert sorted(p.name for p in folder.glob("spawned-*")) == ([] if warm_start else ["spawned-1", "spawned-2"])
        for i, result in results.items():
            view = result["view"]
            for key in ("input", "output", "log"):
                view[key] = [str(Path(p).relative_to(folder)) if Path(p).is_absolute() else p for p in view[key]]
            view["cwd"] = str(Path(view["cwd"]).relative_to(folder))
            view["scriptdir"] = str(Path(view["scriptdir"]).relative_to(folder))
            view["resources"]["tmpdir"] = str(Path(view["resources"]["tmpdir"]).relative_to(folder))
            for key in ("TMPDIR", "TEMP"):
                view["env"][key] = str(Path(view["env"][key]).relative_to(folder))
            views[warm_start, i] = view
            assert f"job {i} on stderr" in (folder / "logs" / f"{i}.log").read_text()
            header, values = (line.split("\t") for line in (folder / "bench" / f"{i}.tsv").read_text().splitlines())
            bench = dict(zip(header, values))
            assert header[0] == "s" and float(bench["s"]) >= 0.4
            if warm_start:
                assert 0.4 <= float(bench["cpu_time"]) < float(bench["s"]) + 0.5, bench
                assert float(bench["max_rss"]) >= 300, bench
                assert float(bench["mean_load"]) == pytest.approx(100 * float(bench["cpu_time"]) / float(bench["s"]),
                                                                  rel=0.02)
    for i in (1, 2):
        assert views[True, i] == views[False, i]
        assert views[True, i]["env"]["OMP_NUM_THREADS"] == "2" and views[True, i]["env"]["MARK"] == "from-the-run"
        assert views[True, i]["params"]["nested"] == {"a": [1, 2], "b": "x"}


def test_a_failing_handed_over_job_fails_the_run_with_its_message(tmp_path):
    folder = launch_workflow(tmp_path)
    code, out = snakemake_run(folder, warm=True, fail=True)
    assert code != 0
    assert "basesel: error in rule job: bad input" in out
    assert not list(folder.glob("out/*.json"))  # Snakemake removed the failed jobs' outputs
    assert not list(folder.glob("spawned-*"))


def test_interrupting_snakemake_stops_its_handed_over_jobs(tmp_path):
    """Ctrl-C reaches Snakemake, not the server's children (another session): cancelling stops them."""
    folder = launch_workflow(tmp_path)
    proc = snakemake_run(folder, wait=False, warm=True, sleep=300)
    try:
        for _ in range(1200):
            done = [p for p in folder.glob("out/*.json")]
            if len(done) == 2:
                break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        children = [json.loads(p.read_text())["pid"] for p in done]
        assert len(children) == 2 and proc.pid not in children
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)  # well before the jobs' 300 s
    finally:
        proc.kill()
    assert proc.returncode != 0
    for child in children:
        if not gone(child):
            pytest.fail(f"the child {child} outlived the interrupted run:\n{out}")
    # as for jobs in processes of their own: their outputs are marked incomplete, to be redone
    import base64

    marked = {base64.b64decode(p.name).decode() for p in (folder / ".snakemake" / "incomplete").iterdir()}
    assert marked == {"out/1.json", "out/2.json"}
