# basesel: the seed paper's base-model selection methodology as a Snakemake workflow.
# Wiring only: config, validation and input functions live in workflow/rules/common.smk, cluster
# resources in resources.smk, logic in the library (workflow/basesel/); each stage's file adds its
# final outputs to FINAL, what rule all asks for.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/slurm.smk"
include: "workflow/rules/warm.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/zoo.smk"
include: "workflow/rules/featuremaps.smk"
include: "workflow/rules/scores.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/curves.smk"
include: "workflow/rules/layers.smk"


# Snakemake runs these hooks for the main Snakefile only: a workflow that uses this one as a module
# calls them from its own (`onstart: basesel.onstart()`, README "As a module of your workflow").
onstart:
    slurm_site_check()
    local_scheduler()
    warm_start()


onsuccess:
    warm_stop()


onerror:
    warm_stop()


rule all:
    default_target: True
    input:
        FINAL,
