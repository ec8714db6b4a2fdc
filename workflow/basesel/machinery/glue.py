"""The glue every workflow script shares: warm start, log redirection, threads, clean errors.

A script imports only this module at the top and everything else inside its `main`, so that a job
handed to the warm server (warm.py) pays for no import in its own process. Machinery: no code
digest holds it, so editing it reruns no job.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback

from .. import BaseselError


def run(snakemake, main, torch_threads: bool = False) -> None:
    """Run this job: hand it to the warm server when one is running (local runs), else call
    main(snakemake) here, with stderr sent to the rule's log. `torch_threads`: the job computes
    with torch, which then uses the job's thread count (snakemake.threads).

    A BaseselError (bad input) ends the job with its message alone, in the log and on the
    terminal; any other exception keeps its traceback in the log.
    """
    from . import warm

    script = getattr(sys.modules["__main__"], "__file__", None)
    status = warm.hand_over(snakemake, script) if script else None
    if status is not None:
        sys.exit(status)
    # Stopped by Snakemake (Ctrl-C, a failed sibling job): unwind, so that no temporary file stays behind.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    terminal = sys.stderr
    log = open(snakemake.log[0], "w", buffering=1) if snakemake.log else terminal
    sys.stderr = log
    try:
        if torch_threads:  # not for the numpy-only jobs (scores, plots, analysis): the import costs seconds
            import torch

            torch.set_num_threads(max(1, int(snakemake.threads)))
        main(snakemake)
    except BaseselError as exc:
        message = f"basesel: error in rule {snakemake.rule}: {exc}"
        print(message, file=log)
        if log is not terminal:
            print(message, file=terminal)
        sys.exit(1)
    except Exception:
        traceback.print_exc(file=log)
        raise
    finally:
        sys.stderr = terminal
        if log is not terminal:
            log.close()


def export_library(lib) -> None:
    """Put the library folder `lib` first on the PYTHONPATH of every process this one starts (the
    Snakefile calls this): job scripts import `basesel` from the checkout whose files the code
    digests hash, never a copy installed elsewhere."""
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if paths[0] != str(lib):
        os.environ["PYTHONPATH"] = os.pathsep.join([str(lib), *filter(None, paths)])
