"""The glue every workflow script shares: log redirection, threads, clean errors."""
from __future__ import annotations

import sys
import traceback

from .io import BaseselError


def run(snakemake, main) -> None:
    """Call main(snakemake) with stderr sent to the rule's log.

    A BaseselError (bad input) ends the job with its message alone, in the log and on the
    terminal; any other exception keeps its traceback in the log.
    """
    terminal = sys.stderr
    log = open(snakemake.log[0], "w", buffering=1) if snakemake.log else terminal
    sys.stderr = log
    try:
        # Only scripts that already imported torch use it; importing it here would cost the
        # numpy-only jobs (scores, plots, analysis) almost a second each.
        torch = sys.modules.get("torch")
        if torch is not None:
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
