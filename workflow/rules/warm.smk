# Warm start of local runs (workflow/basesel/machinery/warm.py): one process imports the library once and
# forks a child per job, so that a job does not spend seconds importing torch; Snakemake's own threads
# hand the jobs to it (machinery/launch.py), so that a job costs no process of its own either. Its
# socket lives in a private directory outside the project folder, and it runs only this workflow's
# job scripts for this account. Cluster jobs and `compute.warm_start: false` run every script in its
# own process.

WARM = {"process": None, "socket": None}


def local_scheduler():
    """A local run's scheduler without the job-rate limiter's timer chains (basesel/machinery/scheduler.py)."""
    from basesel.machinery.scheduler import drop_local_rate_limit

    drop_local_rate_limit(workflow)


def warm_start():
    local = workflow.executor_plugin is not None and workflow.executor_plugin.name == "local"
    if not (local and config["compute"]["warm_start"] and workflow.exec_mode.name == "DEFAULT") or workflow.touch:
        return
    from basesel.machinery import warm

    WARM["process"], WARM["socket"] = warm.start(str(LIB), str(LIB / "scripts"))
    if WARM["process"] is not None:
        from basesel.machinery import launch

        launch.install(workflow)  # Snakemake's threads hand the jobs over: no process per job


def warm_stop():
    if WARM["process"] is not None:
        from basesel.machinery import launch, warm

        launch.uninstall()

        warm.stop(WARM["process"], WARM["socket"])
        WARM["process"] = None
