"""Progress on stderr. `Progress`, of a loop over images: a bar redrawn in place on a terminal; in a
log file (a Snakemake job's), a line at every tenth of the way, so that logs stay readable.
`EpochProgress`, of training: a line per epoch with its log row."""
from __future__ import annotations

import sys


class Progress:
    """`update(n)` after each step; `close()` at the end (or use it as a context manager)."""

    def __init__(self, label: str, total: int, unit: str = "images", stream=None, width: int = 30):
        self.label, self.total, self.unit, self.width = label, max(int(total), 0), unit, width
        self.stream = stream or sys.stderr
        self.done = 0
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._printed = 0  # tenths of the way already reported in a log file

    def update(self, n: int) -> None:
        self.done += int(n)
        if self.tty:
            filled = int(self.width * self.done / max(self.total, 1))
            print(f"\r{self.label} [{'#' * filled:<{self.width}}] {self.done}/{self.total} {self.unit}", end="",
                  file=self.stream, flush=True)
        else:
            tenth = 10 if self.total == 0 else min(10, self.done * 10 // self.total)
            if tenth > self._printed:
                print(f"{self.label}: {self.done}/{self.total} {self.unit}", file=self.stream, flush=True)
                self._printed = tenth

    def close(self) -> None:
        """End the bar's line on a terminal."""
        if self.tty:
            print(file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EpochProgress:
    """One line per training epoch to stderr (a log file under Snakemake, the terminal otherwise)."""

    def __init__(self, label: str, total_epochs: int, stream=None):
        self.label, self.total, self.stream = label, total_epochs, stream or sys.stderr

    def epoch(self, row: dict) -> None:
        """Print one epoch's log row."""
        parts = [f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()]
        print(f"[{self.label}] epoch {row['epoch']}/{self.total} " + " ".join(parts[1:]), file=self.stream, flush=True)
