# Config validation (before any job runs), names derived from config, input functions.
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from basesel.config import check_config, ConfigError, merge_nulls  # noqa: E402

# An overlay (--configfile) merges into config.yaml key by key; `embedded: null` is how it swaps
# the embedded source for a folder (configs/paper.yaml does). Drop such nulls before validation.
try:
    merge_nulls(config)
except ConfigError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None
validate(config, schema="../schemas/config.schema.yaml", set_default=True)
try:
    PLAN = check_config(config)
except ConfigError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None

ARCHS = PLAN.archs  # name -> arch config
TARGETS = PLAN.targets  # name -> target config
SUBSETS = PLAN.subsets  # subset names, e.g. cw20-0, hz4-3
EMBEDDED = PLAN.embedded  # dataset name -> generator settings ("source" and embedded targets)
LIB = Path(workflow.basedir) / "workflow" / "basesel"
# config["compute"] (device, threads, preload size) and config["data"]["verify"] do not change what
# results mean, so scripts read them from snakemake.config rather than params: changing them reruns
# nothing.
# Training and extraction jobs ask the cluster for a GPU unless the config says cpu; a local run
# has no gpu limit, so the request costs nothing there, and the job itself picks CUDA or CPU.
GPU = 0 if config["compute"]["device"] == "cpu" else 1


wildcard_constraints:
    arch="|".join(ARCHS),
    subset="|".join(SUBSETS),
    target="|".join(TARGETS),
    dataset="|".join(["source", *TARGETS]),


TRANSFER_MODULES = [f"transfer/{p.stem}" for p in sorted((LIB / "transfer").glob("*.py"))]


def lib(*modules):
    """Library files a script depends on, as inputs: editing them reruns the rule."""
    return [str(LIB / f"{m}.py") for m in modules]


def dataset_root(dataset):
    if dataset in EMBEDDED:
        return f"results/data/embedded/{dataset}"
    return PLAN.folders[dataset]


def dataset_input(wildcards):
    # Embedded data is produced by a rule; a user's folder is a plain input.
    return dataset_root(wildcards.dataset)


def embedded_spec(wildcards):
    return EMBEDDED[wildcards.dataset]


def dataset_splits(wildcards):
    return ["train", "val"] if wildcards.dataset == "source" else ["train", "test"]


def min_train_images(wildcards):
    # A target's classes must each hold a full probe set; the source only needs images.
    return 1 if wildcards.dataset == "source" else config["featuremaps"]["probe_per_class"]


def arch_spec(wildcards):
    a = ARCHS[wildcards.arch]
    return {"arch": a["name"], "width": a["width"], "input_size": a["input_size"]}


def pretrain_schedule(wildcards):
    return ARCHS[wildcards.arch]["pretrain"]


def target_indexes(wildcards):
    return [f"results/data/index/{t}.tsv" for t in TARGETS]


def featuremap_files(wildcards):
    return h5_of(wildcards.arch, wildcards.subset)


def h5_of(arch, subset):
    return [f"results/featuremaps/{arch}/{subset}/{t}.h5" for t in TARGETS]


def final_outputs():
    return PLAN.final_outputs


# --- cluster resources (runtime in minutes, memory in MB), scaled by the config ---------------
# Functions of `input` are evaluated when a job is about to be submitted, so they can read the
# sizes of files made earlier in the run (a subset's image count, a featuremap file's size).
from basesel import resources as R  # noqa: E402

THREADS = config["compute"]["threads"]
PRELOAD_MB = config["compute"]["preload_max_mb"]


def _decoded(images, arch):
    return R.fits_preload(images, arch["input_size"], PRELOAD_MB)


def _planned_images(dataset):
    # Before a dataset's index exists: its configured size (embedded) or 1,500 images per class.
    if dataset in EMBEDDED:
        e = EMBEDDED[dataset]
        return e["classes"] * (e["train_per_class"] + e.get("val_per_class", 0) + e.get("test_per_class", 0))
    return 1500 * PLAN.class_counts[dataset]


def pretrain_runtime(wildcards, input, attempt):
    arch, images = ARCHS[wildcards.arch], R.tsv_rows(input.subset, _planned_images("source"))
    return R.training_minutes(arch, train_images=images, eval_images=0, epochs=arch["pretrain"]["epochs"],
                              gpu=GPU > 0, threads=THREADS, decoded=_decoded(images, arch), attempt=attempt)


def whole_runtime(wildcards, input, attempt):
    # The whole-pool model of Figure 1 / A.2: every source image, plus ~10% for the per-epoch scores.
    arch, images = ARCHS[wildcards.arch], R.tsv_rows(input.index, _planned_images("source"))
    return R.training_minutes(arch, train_images=int(images * 1.1), eval_images=0,
                              epochs=PLAN.whole_schedules[wildcards.arch].get("epochs", 30), gpu=GPU > 0,
                              threads=THREADS, decoded=_decoded(images, arch), attempt=attempt)


def featuremaps_runtime(wildcards, input, attempt):
    arch = ARCHS[wildcards.arch]
    images = sum(R.tsv_rows(p, _planned_images(t)) for p, t in zip(input.indexes, TARGETS))
    return R.inference_minutes(arch, images=images, gpu=GPU > 0, threads=THREADS, decoded=False, attempt=attempt)


def finetune_full_runtime(wildcards, input, attempt):
    arch, images = ARCHS[wildcards.arch], R.tsv_rows(input.index, _planned_images(wildcards.target))
    return R.training_minutes(arch, train_images=images, eval_images=0, epochs=config["finetune"]["schedule"]["epochs"],
                              gpu=GPU > 0, threads=THREADS, decoded=_decoded(images, arch), attempt=attempt)


def table_runtime(per_mb_seconds):
    # CPU jobs whose work grows with the size of what they read (features, featuremaps).
    def runtime(wildcards, input, attempt):
        return R.minutes(per_mb_seconds * input.size_mb, attempt)

    return runtime


def table_mem(wildcards, input):
    return R.table_mb(input.size_mb)


def index_runtime(wildcards, attempt):
    # Images are not counted at parse time: a listing of ImageNet costs minutes on a shared filesystem.
    per_image = 0.01 if config["data"]["verify"] == "decode" else 0.002
    return R.minutes(_planned_images(wildcards.dataset) * per_image / THREADS, attempt)


TRAIN_MEM = R.loader_mb(PRELOAD_MB, THREADS)


# --- before the first SLURM submission: partitions and GPUs exist as configured ----------------
onstart:
    if workflow.executor_plugin is not None and workflow.executor_plugin.name == "slurm":
        from basesel import slurm as S
        from basesel.io import BaseselError

        requests = {}
        for job in workflow.dag.needrun_jobs():
            if job.rule.name in requests or job.is_local:
                continue
            res = job.resources
            part = res.get("slurm_partition")
            requests[job.rule.name] = (str(part) if part else None, bool(res.get("gpu")))
        try:
            S.check_partitions(requests, S.sinfo())
        except BaseselError as exc:
            raise WorkflowError(str(exc)) from None
