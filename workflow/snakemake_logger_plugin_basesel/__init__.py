"""`snakemake --logger basesel` (what `make run` uses): a progress view of a run instead of the record
of every job. It shows jobs done out of the total, the time elapsed and the rules running now; on a
terminal one line redrawn in place, in a file or a pipe a line at every 5% of the jobs or after a
minute without one. Errors, warnings and the messages before the first job and after the last are
printed as Snakemake prints them. The full record of every job stays in .snakemake/log/, which
Snakemake writes whatever the logger. A dry run prints as Snakemake's own logger does.

Snakemake finds the plugin by its module name (snakemake_logger_plugin_*) on the Python path: the
basesel install puts it there.
"""
from __future__ import annotations

import logging
import shutil
import sys
import time
from collections import Counter

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

# Events that only move the view on; the rest are printed.
QUIET_EVENTS = {LogEvent.JOB_INFO, LogEvent.JOB_STARTED, LogEvent.JOB_FINISHED, LogEvent.PROGRESS,
                LogEvent.GROUP_INFO, LogEvent.RESOURCES_INFO}
LINE_EVERY_PERCENT = 5
LINE_EVERY_S = 60


def elapsed(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {s:02d} s" if minutes else f"{s} s"


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self.stream = sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.clock = time.monotonic
        self.start = self.clock()
        self.running: dict[int, str] = {}  # job id -> rule
        self.done = self.total = 0
        self.started = False  # a job has run: the view replaces Snakemake's messages until the last ends
        self.drawn = False  # a status line is on the terminal's last line
        self.ended = False  # the last status line is out
        self.last_percent, self.last_line = -LINE_EVERY_PERCENT, self.start

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's: --quiet and the rest work as usual

    @property
    def has_formatter(self) -> bool:
        return False  # Snakemake's, for what is printed as it is

    @property
    def needs_rulegraph(self) -> bool:
        return False

    def status(self) -> str:
        stage = ", ".join(f"{rule} x{n}" if n > 1 else rule
                          for rule, n in sorted(Counter(self.running.values()).items(), key=lambda kv: (-kv[1], kv[0])))
        percent = 100 * self.done // self.total if self.total else 0
        line = f"basesel: {self.done}/{self.total} jobs ({percent}%), {elapsed(self.clock() - self.start)}"
        if self.done == self.total and self.total:
            return line + ", done"
        return line + (f"; running {stage}" if stage else "")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = getattr(record, "event", None)
            if self.common_settings.dryrun:
                self.write(self.format(record))
                return
            if event == LogEvent.JOB_INFO:
                self.started = True
                self.running[record.jobid] = record.rule_name
            elif event == LogEvent.JOB_FINISHED:
                self.running.pop(record.job_id, None)
            elif event == LogEvent.JOB_ERROR:
                self.running.pop(getattr(record, "jobid", None), None)
            elif event == LogEvent.RUN_INFO and isinstance(getattr(record, "stats", None), dict):
                self.total = record.stats.get("total", self.total)  # the plan's job count, before any is done
            elif event == LogEvent.PROGRESS:
                self.done, self.total = record.done, record.total
            if event in QUIET_EVENTS:
                self.show()
            elif record.levelno >= logging.WARNING or not self.mid_run() or event in (
                    LogEvent.JOB_ERROR, LogEvent.GROUP_ERROR, LogEvent.SHELLCMD):
                self.write(self.format(record))
        except Exception:
            self.handleError(record)

    def mid_run(self) -> bool:
        return self.started and (self.done < self.total or not self.total)

    def show(self) -> None:
        """The status: redrawn on a terminal; in a file, a line at each LINE_EVERY_PERCENT of the
        jobs, after LINE_EVERY_S without one, and at the end."""
        if not self.started or self.ended:
            return
        self.ended = not self.mid_run()
        line = self.status()
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r\x1b[K" + line[:width])
            self.drawn = True
            if self.ended:
                self.stream.write("\n")
                self.drawn = False
            self.stream.flush()
            return
        percent = 100 * self.done // self.total if self.total else 0
        now = self.clock()
        if (percent >= self.last_percent + LINE_EVERY_PERCENT or now - self.last_line >= LINE_EVERY_S
                or self.ended):
            self.last_percent, self.last_line = percent - percent % LINE_EVERY_PERCENT, now
            print(line, file=self.stream, flush=True)

    def write(self, text: str) -> None:
        """A message as Snakemake formats it, above the status line (which is drawn again)."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
        print(text, file=self.stream, flush=True)
        if self.drawn:
            self.drawn = False
            self.show()
