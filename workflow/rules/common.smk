# Config validation (before any job runs), names derived from config, input functions.
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from basesel.config import check_config, ConfigError  # noqa: E402

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
# config["compute"] (device, threads, preload size) does not change what results mean, so scripts
# read it from snakemake.config rather than params: changing it reruns nothing.
GPU = 1 if config["compute"]["device"].startswith("cuda") else 0


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
