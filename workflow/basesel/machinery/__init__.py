"""How the workflow runs, never what it computes: the config's plan (plan), the glue every script
shares (glue), code digests (codedeps), warm start (warm), cluster resources (resources), the SLURM
site check (slurm), stale-lock recovery (runlock), progress lines (progress) and a local run's scheduler
without its job-rate limiter (scheduler).

No rule's code digest holds a file of this package (codedeps skips it), so editing it reruns no job.
What belongs here changes how or where a job runs, or what it prints, and no result.
"""
