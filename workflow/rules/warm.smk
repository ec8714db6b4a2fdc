# Warm start of local runs (workflow/basesel/warm.py): one process imports the library once and
# forks a child per job, so that a job does not spend seconds importing torch. Cluster jobs and
# `compute.warm_start: false` run every script in its own process.
import os

WARM = {"process": None, "socket": str(Path(".snakemake") / f"basesel-warm-{os.getpid()}.sock")}


def warm_start():
    local = workflow.executor_plugin is not None and workflow.executor_plugin.name == "local"
    if not (local and config["compute"]["warm_start"] and workflow.exec_mode.name == "DEFAULT") or workflow.touch:
        return
    from basesel import warm

    Path(".snakemake").mkdir(exist_ok=True)
    WARM["process"] = warm.start(WARM["socket"], str(LIB))


def warm_stop():
    if WARM["process"] is not None:
        from basesel import warm

        warm.stop(WARM["process"], WARM["socket"])
        WARM["process"] = None
