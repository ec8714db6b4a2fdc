"""Back on its feet after a crash: `make run` (basesel.machinery.runlock, then Snakemake, whose
workflow profile sets rerun-incomplete) removes a stale lock only when no Snakemake process is alive for the folder,
stops the job processes a dead run left behind, and a tiny run taken through a sequence of kill -9s
ends with the tables of an uninterrupted run and no partial file."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pandas as pd
import pytest

from basesel.machinery import runlock
from helpers import ROOT, SNAKEMAKE, TINY, leftovers, write_config

MINIMAL_SNAKEFILE = "rule all:\n    input: []\n"


def locked_folder(tmp_path) -> Path:
    """A folder with a Snakefile and the lock a dead run leaves (Snakemake's own lock files)."""
    (tmp_path / "Snakefile").write_text(MINIMAL_SNAKEFILE)
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text(str(tmp_path / "a") + "\n")
    (locks / "0.output.lock").write_text(str(tmp_path / "b") + "\n")
    return tmp_path


def fake_process(folder: Path, relpath: str) -> subprocess.Popen:
    """A process whose command line is `python <folder>/<relpath>`, sleeping, run in `folder`."""
    path = folder / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("import time\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, relpath], cwd=folder)
    time.sleep(0.3)
    return proc


@pytest.mark.parametrize("argv,expected", [
    (("snakemake", "--cores", "2"), True),
    (("/x/.venv/bin/python", "/x/.venv/bin/snakemake", "--cores", "2"), True),
    (("python3", "-m", "snakemake", "-n"), True),
    (("python3", "-m", "basesel.machinery.warm", "/tmp/s"), False),
    (("python3", ".snakemake/scripts/tmpab.pretrain.py"), False),
])
def test_which_processes_are_snakemake(argv, expected):
    assert runlock.is_snakemake(argv) is expected


@pytest.mark.parametrize("argv,cwd,expected", [
    (("python3", ".snakemake/scripts/tmpab.pretrain.py"), "run", True),
    (("python3", "-m", "basesel.machinery.warm", "/tmp/basesel-warm-x/warm.sock", "/x/scripts"), "run", True),
    (("python3", "-m", "basesel.machinery.warm", "/tmp/basesel-warm-x/warm.sock", "/x/scripts"), "other", False),
    (("python3", ".snakemake/scripts/tmpab.pretrain.py"), "other", False),
    (("python3", "train.py"), "run", False),
    (("snakemake", "--cores", "2"), "run", False),
])
def test_which_processes_are_a_runs_jobs(tmp_path, argv, cwd, expected):
    """A job in its own process, and a warm server or its forked job child, of this folder's run."""
    (tmp_path / "run").mkdir()
    (tmp_path / "other").mkdir()
    p = runlock.Process(1, os.getuid(), argv, tmp_path / cwd)
    assert runlock.is_job(p, (tmp_path / "run").resolve()) is expected


def test_the_folder_of_a_snakemake_process(tmp_path):
    p = runlock.Process(1, os.getuid(), ("snakemake", "--directory", "sub"), tmp_path)
    assert runlock.snakemake_directory(p) == (tmp_path / "sub").resolve()
    p = runlock.Process(1, os.getuid(), ("snakemake", f"--directory={tmp_path}"), None)
    assert runlock.snakemake_directory(p) == tmp_path.resolve()
    assert runlock.snakemake_directory(runlock.Process(1, 0, ("snakemake",), None)) is None  # unreadable cwd


def test_a_stale_lock_is_removed_and_said_so(tmp_path, capsys):
    folder = locked_folder(tmp_path)
    assert runlock.recover(folder) == 0
    assert "removed a stale lock" in capsys.readouterr().out
    assert not list((folder / ".snakemake" / "locks").glob("*.lock"))
    assert runlock.recover(folder) == 0 and capsys.readouterr().out == ""  # nothing to do, nothing said


def test_never_unlocks_under_a_live_run(tmp_path, capsys):
    folder = locked_folder(tmp_path)
    live = fake_process(folder, "bin/snakemake")  # `python bin/snakemake` in this folder
    try:
        assert runlock.recover(folder) == 1
        message = capsys.readouterr().out
        assert f"pid {live.pid}" in message and "alive" in message
        assert len(list((folder / ".snakemake" / "locks").glob("*.lock"))) == 2
    finally:
        live.kill()
        live.wait()
    assert runlock.recover(folder) == 0


def test_job_processes_of_a_dead_run_are_stopped(tmp_path, capsys):
    folder = locked_folder(tmp_path)
    orphan = fake_process(folder, ".snakemake/scripts/tmpx1y2z3.pretrain.py")
    elsewhere = fake_process(tmp_path / "other", ".snakemake/scripts/tmpq.pretrain.py")  # another folder's job
    # a warm server, or a job's child it forked, with its command line: `python -m basesel.machinery.warm ...`
    fake = tmp_path / "fake" / "basesel" / "machinery"
    fake.mkdir(parents=True)
    for init in (fake.parent / "__init__.py", fake / "__init__.py"):
        init.write_text("")
    (fake / "warm.py").write_text("import time\ntime.sleep(120)\n")
    server = subprocess.Popen([sys.executable, "-m", "basesel.machinery.warm", "/tmp/x/warm.sock", "scripts"],
                              cwd=folder, env={**os.environ, "PYTHONPATH": str(tmp_path / "fake")})
    time.sleep(0.5)
    try:
        assert runlock.recover(folder) == 0
        assert orphan.wait(timeout=20) != 0 and server.wait(timeout=20) != 0
        assert elsewhere.poll() is None
        assert "stopping 2 process(es) left by a run that died" in capsys.readouterr().out
    finally:
        for p in (orphan, elsewhere, server):
            p.kill()
            p.wait()


# --- a tiny run through a sequence of crashes -------------------------------------------------------

def make_run_args(workdir, config_file):
    return ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "--configfile",
            str(ROOT / "config.yaml"), str(config_file)]


def is_warm_server(p: runlock.Process) -> bool:
    """Whether `p` is a warm server rather than a job: its parent is not one (a job's child's is)."""
    if tuple(p.argv[1:3]) != ("-m", "basesel.machinery.warm"):
        return False
    try:
        parent = int(Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        return b"basesel.machinery.warm" not in Path(f"/proc/{parent}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return True  # gone: not one to kill


def make_run(workdir, config_file, kill_when=None, kill_job=False):
    """What `make run CONFIG=...` does, in `workdir`: the lock check, then Snakemake. With
    `kill_when(workdir) -> bool`, kill -9 Snakemake (or, with `kill_job`, one running job
    process) as soon as it holds; returns (what the lock check printed, whether a kill happened)."""
    args = make_run_args(workdir, config_file)
    check = subprocess.run([sys.executable, "-m", "basesel.machinery.runlock", *args], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = workdir.parent / f"snakemake-{time.monotonic_ns()}.log"  # a file, not a pipe: nobody reads it while it runs
    with open(log, "w") as stream:
        # no --rerun-incomplete: the workflow profile (profiles/default) must give it, as it does to make run
        proc = subprocess.Popen([*SNAKEMAKE, "--cores", "2", *args],
                                stdout=stream, stderr=subprocess.STDOUT)
    killed = False
    while proc.poll() is None and kill_when is not None and not killed:
        if kill_when(workdir):
            if kill_job:
                jobs = [p for p in runlock.processes() if runlock.is_job(p, workdir.resolve())
                        and not is_warm_server(p)]  # a job: one in its own process, or a server's child
                if jobs:
                    os.kill(jobs[0].pid, signal.SIGKILL)
                    killed = True
            else:
                proc.send_signal(signal.SIGKILL)
                killed = True
        time.sleep(0.02)
    proc.wait(timeout=1800)
    if kill_when is None:
        assert proc.returncode == 0, log.read_text()[-4000:]
    return check.stdout, killed


def running(log_glob, output_glob):
    """A condition: some job's log exists (it has started) and its outputs are not all there yet."""
    def condition(workdir):
        logs = list(workdir.glob(log_glob))
        return len(list(workdir.glob(output_glob))) < len(logs)
    return condition


MOMENTS = [  # (where Snakemake is killed, the condition), in the order a run reaches them
    ("data generation", running("logs/data/embedded_*.log", "results/data/embedded/*")),
    ("pretraining", running("logs/pretrain/*/*.log", "results/pretrain/*/*/model.pt")),
    ("a forward pass", running("logs/features/*/*/*.log", "results/features/*/*/*.h5")),
    ("a scores job", running("logs/scores/*/*/*.log", "results/scores/*/*/*.json")),
    ("a single job (kill -9 of the job, not of Snakemake)", running("logs/finetune/*/*/*.log",
                                                                    "results/finetune/*/*/*.json")),
    ("the analysis", running("logs/analysis/analysis.log", "results/analysis/leaderboard.tsv")),
]


def tables(workdir):
    """Every result table of a run, without the measured seconds (costs.tsv, `seconds` columns)."""
    out = {}
    for path in sorted((workdir / "results").rglob("*")):
        rel = path.relative_to(workdir).as_posix()
        if path.suffix == ".tsv" and "benchmarks" not in rel and path.name != "costs.tsv":
            frame = pd.read_csv(path, sep="\t")
            out[rel] = frame.drop(columns=[c for c in frame.columns if c == "seconds"])
        elif rel == "results/analysis/summary.json":
            out[rel] = json.loads(path.read_text())
    return out


@pytest.mark.slow
def test_kill_minus_nine_anywhere_loses_nothing(tiny_run, tmp_path):
    work = tmp_path / "crashes"
    work.mkdir()
    config = write_config(work, TINY)
    said, start = [], time.monotonic()
    for where, condition in MOMENTS:
        printed, killed = make_run(work, config, kill_when=condition, kill_job=where.startswith("a single job"))
        said.append((where, killed, printed))
    final, _ = make_run(work, config)
    said.append(("the last run", None, final))
    print(f"{len(MOMENTS)} kills and {len(MOMENTS) + 1} starts in {time.monotonic() - start:.0f} s")
    print("\n".join(f"{where}: killed={killed}; lock check said: {printed.strip() or 'nothing'}"
                    for where, killed, printed in said))
    assert all(killed for _, killed, _ in said[:-1]), said
    # after each kill -9 of Snakemake the next start found its stale lock and removed it
    assert sum("removed a stale lock" in printed for _, _, printed in said) == len(MOMENTS) - 1
    # the same tables as the uninterrupted run, and nothing partial anywhere
    expected, got = tables(tiny_run), tables(work)
    assert sorted(got) == sorted(expected)
    for name in expected:
        if isinstance(expected[name], dict):
            assert got[name] == expected[name], name
        else:
            pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True, obj=name)
    results = work / "results"
    assert leftovers(results) == []
    for path in results.rglob("*"):
        if path.suffix == ".h5":
            with h5py.File(path, "r") as f:
                assert len(f.keys()) > 0, path
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".tsv":
            assert len(pd.read_csv(path, sep="\t")) > 0, path
    assert not list((work / ".snakemake" / "locks").glob("*.lock"))
