"""Snakemake's scheduler on a local run, without its job-rate limiter's timer chains.

`--max-jobs-per-timespan` (default 100/1s) gives every run a rate limiter, and with one Snakemake
9.27's scheduler, after each scheduling round that leaves jobs waiting, starts a thread that wakes
it again a second later (JobScheduler._schedule_reevalutation). That wake-up is itself such a
round, so each job that finishes while others wait for a core starts a chain of one round a second
that lasts until the queue of ready jobs is empty; every round stats the inputs of every ready job.
In the embedded default's per-pair stretch, hundreds of jobs wait for two cores, and the chains add
up to hundreds of rounds a second and as many threads (177 counted mid-run): most of Snakemake's
own CPU time (168 s of a run of the embedded default, 15 s without the chains), taken from the jobs.

A local run starts at most --cores jobs at once and never comes near 100 a second, so the limiter
does nothing for it; it is dropped there (the scheduler then runs once per finished job, as
without the option). Cluster runs keep it: there it paces submissions to the queue.
"""
from __future__ import annotations

import sys


def drop_local_rate_limit(workflow) -> bool:
    """Remove the job-rate limiter of a local run's scheduler (called from `onstart`, after
    Snakemake made the scheduler and before its first round); whether it did. A Snakemake whose
    scheduler has no such attribute is left alone, with a line on stderr."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "local":
        return False
    scheduler = getattr(workflow, "scheduler", None)
    if scheduler is None or not hasattr(scheduler, "job_rate_limiter"):
        print("basesel: this Snakemake's scheduler has no job_rate_limiter; left as it is",
              file=sys.stderr)
        return False
    scheduler.job_rate_limiter = None
    return True
