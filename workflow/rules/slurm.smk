# Before the first SLURM submission: the partitions exist, GPU rules land on partitions with GPUs,
# and no group job asks for more than one GPU (workflow/basesel/slurm.py names the key to change).


def slurm_site_check():
    if workflow.executor_plugin is None or workflow.executor_plugin.name != "slurm":
        return
    from basesel import slurm as S
    from basesel.io import BaseselError

    try:
        S.check_jobs(workflow.dag, S.sinfo())
    except BaseselError as exc:
        raise WorkflowError(str(exc)) from None
