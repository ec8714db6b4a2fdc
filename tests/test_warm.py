"""Warm start: a job handed to the warm server runs in a forked child as it would run alone (its
directory, environment, streams, threads, exit status), dies with its job process, and the job runs
in its own process whenever there is no server, or the library changed under the server."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT

LIB = ROOT / "workflow"
SCRIPT = f'''
import json, os, sys, time
from types import SimpleNamespace
sys.path.insert(0, {str(LIB)!r})
if "snakemake" not in globals():  # a Snakemake job's preamble defines it
    job = json.loads(os.environ["TEST_JOB"])
    snakemake = SimpleNamespace(log=[job["log"]], threads=1, rule="test", output=[job["out"]],
                                params=SimpleNamespace(**job["params"]))
from basesel.smk import run


def main(smk):
    import torch
    from basesel.io import BaseselError

    print("hello on stdout", flush=True)
    print("hello on stderr", file=sys.stderr, flush=True)
    with open(smk.output[0], "w") as f:
        json.dump({{"pid": os.getpid(), "cwd": os.getcwd(), "mark": os.environ.get("MARK"),
                   "threads": torch.get_num_threads(), "child": "BASESEL_WARM_CHILD" in os.environ}}, f)
    if smk.params.fail:
        raise BaseselError("bad input")
    time.sleep(smk.params.sleep)


run(snakemake, main, torch=True)
'''


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "job.py"
    path.write_text(SCRIPT)
    return path


def job(script, workdir, socket=None, fail=False, sleep=0.0, wait=True):
    env = {**os.environ, "MARK": "from-the-job", "TEST_JOB": json.dumps(
        {"log": str(workdir / "job.log"), "out": str(workdir / "out.json"), "params": {"fail": fail, "sleep": sleep}})}
    env.pop("BASESEL_WARM", None)
    if socket is not None:
        env["BASESEL_WARM"] = str(socket)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from basesel import warm

    folder = tmp_path_factory.mktemp("warm")
    socket = folder / "warm.sock"
    saved = os.environ.get(warm.ENV)
    proc = warm.start(str(socket), str(LIB))
    if saved is None:
        os.environ.pop(warm.ENV)  # start() exports it for the jobs of a Snakemake run; tests pass it explicitly
    else:
        os.environ[warm.ENV] = saved
    for _ in range(600):  # the server creates the socket once it has imported the library
        if socket.exists():
            break
        assert proc.poll() is None, "the warm server exited"
        time.sleep(0.1)
    assert socket.exists()
    yield proc, socket
    warm.stop(proc, str(socket))
    assert proc.poll() is not None and not socket.exists()


def test_without_a_server_a_job_runs_in_its_own_process(script, tmp_path):
    code, out, err = job(script, tmp_path)
    assert code == 0, err
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["child"] is False and result["threads"] == 1
    assert "hello on stdout" in out and "hello on stderr" in (tmp_path / "job.log").read_text()


def test_a_handed_over_job_runs_as_it_would_alone(server, script, tmp_path):
    _, socket = server
    code, out, err = job(script, tmp_path, socket)
    assert code == 0, err
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["child"] is True  # it did run in the server's child
    assert result["cwd"] == str(tmp_path) and result["mark"] == "from-the-job" and result["threads"] == 1
    assert "hello on stdout" in out  # the job's own streams
    assert "hello on stderr" in (tmp_path / "job.log").read_text()


def test_a_failing_job_fails_with_its_message(server, script, tmp_path):
    _, socket = server
    code, out, err = job(script, tmp_path, socket, fail=True)
    assert code == 1
    assert "basesel: error in rule test: bad input" in err
    assert "Traceback" not in err


def test_killing_the_job_kills_its_child(server, script, tmp_path):
    _, socket = server
    proc = job(script, tmp_path, socket, sleep=60, wait=False)
    for _ in range(300):
        if (tmp_path / "out.json").exists() and (tmp_path / "out.json").read_text():
            break
        time.sleep(0.1)
    child = json.loads((tmp_path / "out.json").read_text())["pid"]
    assert child != proc.pid
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the child {child} outlived its job")


def test_a_changed_library_makes_jobs_run_in_their_own_process(tmp_path, script):
    """Code edited under a running server: the server stops serving rather than run stale code."""
    import shutil

    from basesel import warm

    lib = tmp_path / "lib"
    shutil.copytree(LIB / "basesel", lib / "basesel", ignore=shutil.ignore_patterns("__pycache__"))
    socket = tmp_path / "w.sock"
    proc = warm.start(str(socket), str(lib))
    os.environ.pop(warm.ENV, None)
    try:
        for _ in range(600):
            if socket.exists():
                break
            time.sleep(0.1)
        work = tmp_path / "work"
        work.mkdir()
        code, _, err = job(script, work, socket)
        assert code == 0 and json.loads((work / "out.json").read_text())["child"] is True, err
        (lib / "basesel" / "plots.py").write_text((lib / "basesel" / "plots.py").read_text() + "\n# edited\n")
        code, _, err = job(script, work, socket)
        assert code == 0 and json.loads((work / "out.json").read_text())["child"] is False, err
        proc.wait(timeout=30)  # and it has stopped
    finally:
        warm.stop(proc, str(socket))
