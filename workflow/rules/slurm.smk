# Before the first SLURM submission: the partitions exist, GPU rules land on partitions with GPUs,
# and no group job asks for more than one GPU (workflow/basesel/machinery/slurm.py names the key to change).


def slurm_site_check():
    if workflow.executor_plugin is None or workflow.executor_plugin.name != "slurm":
        return
    from basesel import BaseselError
    from basesel.machinery import slurm

    try:
        slurm.check_jobs(workflow.dag, slurm.sinfo())
    except BaseselError as exc:
        raise WorkflowError(str(exc)) from None
