"""`--logger basesel`, the progress view of `make run`: found by Snakemake as a logger plugin, what it
shows for a stream of Snakemake's log records (a file and a terminal), and a real run with it."""
import io
import logging
import re
import subprocess
from types import SimpleNamespace

import pytest
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

from helpers import SNAKEMAKE


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def handler(tty=False, dryrun=False):
    """The handler as Snakemake makes it (the registry's plugin, Snakemake's formatter), writing to a
    buffer and reading a clock the test moves."""
    from snakemake.logging import DefaultFormatter

    plugin = LoggerPluginRegistry().get_plugin("basesel")
    h = plugin.log_handler(SimpleNamespace(dryrun=dryrun), None)
    h.setFormatter(DefaultFormatter())
    h.stream = io.StringIO()
    h.tty, h.clock = tty, Clock()
    h.start = h.last_line = 0.0
    return h


def record(msg="", level=logging.INFO, **extra):
    r = logging.LogRecord("snakemake", level, __file__, 0, msg, None, None)
    r.__dict__.update(extra)
    return r


def run_jobs(h, rules, fail=None):
    """Snakemake's records of a run of `rules`, one job after another (job `fail` fails)."""
    h.handle(record("Job stats: ...", event=LogEvent.RUN_INFO, stats={"total": len(rules)}))
    for jobid, rule in enumerate(rules):
        h.handle(record(event=LogEvent.JOB_INFO, jobid=jobid, rule_name=rule, rule_msg=None, local=False,
                        is_checkpoint=False, input=[], output=[], log=[], reason="", wildcards={}, resources={},
                        priority=0, threads=1, benchmark=None))
        h.handle(record("Select jobs to execute..."))  # Snakemake's chatter: not shown mid-run
        h.clock.now += 2.0
        if jobid == fail:
            h.handle(record(event=LogEvent.JOB_ERROR, level=logging.ERROR, jobid=jobid, rule_name=rule, msg=None,
                            rule_msg=None, input=[], output=[], log=[f"logs/{rule}.log"], conda_env=None,
                            shellcmd=None, aux={}))
            return
        h.handle(record(event=LogEvent.JOB_FINISHED, job_id=jobid, msg="Finished job."))
        h.handle(record(event=LogEvent.PROGRESS, done=jobid + 1, total=len(rules)))
    h.handle(record("Complete log(s): .snakemake/log/x.snakemake.log"))


def test_the_plugin_is_found_by_snakemake():
    plugin = LoggerPluginRegistry().get_plugin("basesel")
    h = plugin.log_handler(SimpleNamespace(dryrun=False), None)
    assert h.writes_to_stream and not h.writes_to_file and not h.has_filter


def test_a_line_per_twentieth_of_the_jobs_in_a_file():
    h = handler()
    run_jobs(h, ["pretrain"] * 10 + ["features"] * 30)
    lines = h.stream.getvalue().splitlines()
    status = [line for line in lines if line.startswith("basesel:")]
    # the first job, then one line per 5% (2 of the 40 jobs), the last marked done
    assert status[0] == "basesel: 0/40 jobs (0%), 0 s; running pretrain"
    assert [s.split()[1] for s in status] == ["0/40", *[f"{k}/40" for k in range(2, 41, 2)]]
    assert status[-1] == "basesel: 40/40 jobs (100%), 1 min 20 s, done"
    assert not any("Select jobs" in line or "Finished job" in line for line in lines)
    assert lines[0].startswith("Job stats") and lines[-1].startswith("Complete log(s)")


def test_a_line_after_a_minute_without_one():
    h = handler()
    h.handle(record("", event=LogEvent.RUN_INFO, stats={"total": 100}))
    h.handle(record(event=LogEvent.JOB_INFO, jobid=0, rule_name="pretrain"))
    h.clock.now = 59.0
    h.handle(record(event=LogEvent.JOB_STARTED, jobs=[0]))
    h.handle(record(event=LogEvent.JOB_INFO, jobid=1, rule_name="features"))
    h.handle(record(event=LogEvent.JOB_INFO, jobid=2, rule_name="pretrain"))
    h.clock.now = 61.0
    h.handle(record(event=LogEvent.JOB_STARTED, jobs=[2]))
    status = [line for line in h.stream.getvalue().splitlines() if line.startswith("basesel:")]
    assert status == ["basesel: 0/100 jobs (0%), 0 s; running pretrain",
                      "basesel: 0/100 jobs (0%), 1 min 01 s; running pretrain x2, features"]


def test_errors_and_warnings_are_shown_in_full():
    h = handler()
    h.handle(record("", event=LogEvent.RUN_INFO, stats={"total": 3}))
    h.handle(record("a warning", level=logging.WARNING))
    run_jobs(h, ["table", "analysis", "answer"], fail=1)
    h.handle(record("Exiting because a job execution failed.", level=logging.ERROR))
    text = h.stream.getvalue()
    assert "a warning" in text and "Error in rule analysis:" in text and "logs/analysis.log" in text
    assert "Exiting because a job execution failed." in text
    assert "done" not in text.splitlines()[-1]
    assert h.running == {}  # the failed job no longer counts as running


def test_a_terminal_gets_one_line_redrawn():
    h = handler(tty=True)
    run_jobs(h, ["pretrain", "features", "scores"])
    text = h.stream.getvalue()
    assert text.count("\r\x1b[K") >= 6
    # after the last job the status line is ended, and later messages start on a line of their own
    assert text.endswith("basesel: 3/3 jobs (100%), 6 s, done\nComplete log(s): .snakemake/log/x.snakemake.log\n")
    # a message in the middle of the run clears the status line, then draws it again below
    h = handler(tty=True)
    h.handle(record("", event=LogEvent.RUN_INFO, stats={"total": 2}))
    h.handle(record(event=LogEvent.JOB_INFO, jobid=0, rule_name="pretrain"))
    h.handle(record("careful", level=logging.WARNING))
    assert h.stream.getvalue().endswith("\r\x1b[Kcareful\n\r\x1b[Kbasesel: 0/2 jobs (0%), 0 s; running pretrain")


def test_a_dry_run_prints_as_snakemake_does():
    h = handler(dryrun=True)
    h.handle(record("Select jobs to execute..."))
    h.handle(record(event=LogEvent.PROGRESS, done=0, total=1))
    assert h.stream.getvalue() == "Select jobs to execute...\n0 of 1 steps (0%) done\n"


@pytest.mark.parametrize("fail", [False, True])
def test_a_real_run_with_it(tmp_path, fail):
    """Snakemake with --logger basesel: the view on stderr, every job's record in .snakemake/log/."""
    (tmp_path / "Snakefile").write_text(
        'rule all:\n    input: expand("out/{i}.txt", i=range(5))\n'
        'rule make:\n    output: "out/{i}.txt"\n    log: "logs/{i}.log"\n'
        f'    shell: "echo {{wildcards.i}} > {{output}}; test {{wildcards.i}} != {3 if fail else 9}"\n')
    out = subprocess.run([*SNAKEMAKE, "--cores", "1", "--logger", "basesel"], cwd=tmp_path, capture_output=True,
                         text=True)
    shown = out.stdout + out.stderr
    full = next((tmp_path / ".snakemake" / "log").glob("*.snakemake.log")).read_text()
    records = re.compile(r"^(local)?rule make:$", re.M)  # Snakemake's record of a job
    # Without --keep-going the failure stops the run, after however many jobs came before it:
    # every job that ran (the outputs kept, and the failed one, whose output Snakemake removes) is recorded.
    ran = len(list((tmp_path / "out").glob("*.txt"))) + (1 if fail else 0)
    assert not records.search(shown) and len(records.findall(full)) == ran
    if fail:
        assert out.returncode != 0 and "Error in rule make:" in shown and "logs/3.log" in shown
    else:
        assert out.returncode == 0
        assert "basesel: 0/6 jobs (0%)" in shown and "basesel: 6/6 jobs (100%)" in shown and "done" in shown
