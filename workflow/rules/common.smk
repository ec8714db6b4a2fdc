# Config validation (before any job runs), the plan derived from it, wildcard constraints and the
# input functions. Nothing here imports torch: a dry run and every cluster job parse this file.
import re
import sys
from pathlib import Path

from snakemake.utils import validate

# This checkout, found from this file: not workflow.basedir, which is the main Snakefile's folder,
# another workflow's when this one is used as a module (README "As a module of your workflow").
ROOT = Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parents[1]
LIB = ROOT / "workflow"
sys.path.insert(0, str(LIB))
from basesel.machinery.codedeps import digest  # noqa: E402
from basesel.machinery.glue import export_library  # noqa: E402
from basesel.machinery.plan import (  # noqa: E402
    ZOO_GROUP,
    ConfigError,
    check_config,
    merge_nulls,
    replicate_index,
    replicate_seed,
)

# An overlay (--configfile) merges into config.yaml key by key; `embedded: null` is how it swaps
# the embedded source for a folder (configs/paper.yaml does). Drop such nulls before validation.
try:
    merge_nulls(config)
except ConfigError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None
validate(config, schema="../schemas/config.schema.yaml", set_default=True)
try:
    PLAN = check_config(config, basedir=ROOT)
except ConfigError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None

ARCHS, TARGETS, SUBSETS = list(PLAN.archs), list(PLAN.targets), PLAN.subsets
ZOO = list(PLAN.zoo)
# Every base model as its (arch, subset) wildcards: the pretrained ones, then the zoo's (arch "zoo",
# subset its name), and the analysis groups they fall in.
BASE_MODELS, GROUPS = PLAN.base_models, PLAN.groups
DEMO_FILES = [n for n, d in PLAN.demo.items() if d["format"] != "snapshot"]
DEMO_SNAPSHOTS = [n for n, d in PLAN.demo.items() if d["format"] == "snapshot"]
# config["compute"] (device, threads, batch sizes, preload budget, warm start) and
# config["data"]["verify"] do not change what results mean: scripts read them from snakemake.config,
# never from params, so changing them reruns nothing.

# Every job, local or on the cluster, imports this checkout's library (its scripts `import basesel`,
# and the code digests are of these files), whatever else the environment has installed.
export_library(LIB)

# The outputs that end each branch of the DAG, which the all rule asks for; each stage's file adds its own.
FINAL = []


REPS = PLAN.replicate_folders  # "" (the run itself), then replicates/rK/
# The settings of the scores that have some (transfer.OPTIONS), in the shape compute() takes them.
SCORE_OPTIONS = {
    "kNN": {"k": config["scores"]["knn"]["k"]},
    "LinearProbe": {k: config["scores"]["linear_probe"][k] for k in ("folds", "c", "seed")},
}


def one_of(names):
    """A wildcard constraint: exactly one of `names` (none: a pattern nothing matches)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


wildcard_constraints:
    arch=one_of(GROUPS),
    subset=one_of([*SUBSETS, *ZOO]),
    target=one_of(TARGETS),
    dataset=one_of(["source", *TARGETS]),
    model=one_of(ZOO),
    rep="(replicates/r[0-9]+/)?",
    size="[0-9]+",


def code(script):
    """The digest of the library files `script` imports (its import closure, basesel/machinery/codedeps.py):
    a rule's `code` parameter, so that editing one of them reruns the rule."""
    return digest(LIB / "scripts" / script, LIB)


def dataset_input(wildcards):
    """The dataset's folder: made by embedded_dataset, or the user's."""
    if wildcards.dataset in PLAN.embedded:
        return f"results/data/embedded/{wildcards.dataset}"
    return PLAN.folders[wildcards.dataset]


def embedded_spec(wildcards):
    return PLAN.embedded[wildcards.dataset]


def dataset_splits(wildcards):
    return ["train", "val"] if wildcards.dataset == "source" else ["train", "test"]


def torchvision_dataset(wildcards):
    return PLAN.torchvision.get(wildcards.dataset, "")


def benchmark_spec(wildcards):
    """A benchmark target's dataset and protocol (data/benchmarks.py); its root is the rule's input."""
    spec = PLAN.benchmark[wildcards.dataset]
    return {"dataset": spec["dataset"], "protocol": spec["protocol"]}


def unpack_source(wildcards):
    return PLAN.benchmark[wildcards.dataset]["root"]


def benchmark_dataset(wildcards):
    return PLAN.benchmark[wildcards.dataset]["dataset"]


# Targets of the field's benchmarks (index_benchmark), those held as arrays (unpack_arrays first),
# and every other dataset (index_dataset).
BENCHMARK_TARGETS = list(PLAN.benchmark)
ARRAY_TARGETS = [t for t, spec in PLAN.benchmark.items() if spec["unpack"]]
INDEXED = [d for d in ["source", *TARGETS] if d not in PLAN.benchmark]


def arch_spec(wildcards):
    return PLAN.arch_spec(wildcards.arch)


def pretrain_schedule(wildcards):
    return PLAN.pretrain_schedules[wildcards.arch]


def whole_pool_schedule(wildcards):
    return PLAN.whole_pool_schedules[wildcards.arch]


def decoded_images(dataset=None):
    """An input function: the decoded images file (rule decode_images) of `dataset` (the job's
    target when None) at the input size of the job's architecture, which the job reads its images
    from; none for a zoo model, which decodes with its own preprocessing."""

    def files(wildcards):
        if wildcards.arch == ZOO_GROUP:
            return []
        return f"results/data/decoded/{dataset or wildcards.target}/{PLAN.archs[wildcards.arch]['input_size']}px.h5"

    return files


def base_model(wildcards):
    """The file a base model is read from: its pretraining's checkpoint (of its replicate), or a
    zoo model's card (one for every replicate: the weights are the user's)."""
    if wildcards.arch == ZOO_GROUP:
        return f"results/zoo/{wildcards.subset}.json"
    return f"results/{wildcards.rep}pretrain/{wildcards.arch}/{wildcards.subset}/model.pt"


def pair_files(pattern):
    """An input function: `pattern` ({rep}, {arch}, {subset}, {target}) for every (base model,
    target) pair of the job's replicate, in the table's order."""

    def files(wildcards):
        return [pattern.format(rep=wildcards.rep, arch=a, subset=s, target=t) for a, s in BASE_MODELS for t in TARGETS]

    return files


def finetuned_pair_files(pattern):
    """pair_files for the pairs the workflow fine-tunes: all but those whose accuracy a published
    table gives (config ground_truth)."""

    def files(wildcards):
        return [
            pattern.format(rep=wildcards.rep, arch=a, subset=s, target=t)
            for a, s in BASE_MODELS
            for t in TARGETS
            if PLAN.fine_tuned(a, s, t)
        ]

    return files


# The published ground-truth table, an input of the table rule where one is configured.
# (the file read; the params hold the table as the config names it, the same in every checkout)
GROUND_TRUTH = [PLAN.ground_truth["path"]] if PLAN.ground_truth else []
GROUND_TRUTH_PARAMS = (
    {
        **{k: v for k, v in PLAN.ground_truth.items() if k != "path"},
        "pairs": [[a, s, t] for a, s in BASE_MODELS for t in TARGETS if not PLAN.fine_tuned(a, s, t)],
    }
    if PLAN.ground_truth
    else {}
)


def replicate_seed_of(wildcards):
    """The seed of a replicate's training and probe draws (machinery/plan.py replicate_seed)."""
    return replicate_seed(config["seed"], replicate_index(wildcards.rep))


def replicate_labels(labels):
    """A report flag's labels, with the replicate's number in front when the run has several, so
    that each replicate's files are told apart in the report (Snakemake fills in the wildcards)."""
    if len(REPS) == 1:
        return labels
    return lambda wildcards: {"replicate": str(replicate_index(wildcards.rep)), **labels}


def zoo_source(wildcards):
    """What a zoo model is read from: its weights file, or its snapshot folder."""
    return PLAN.zoo[wildcards.model].source


def zoo_entry(wildcards):
    return PLAN.zoo[wildcards.model].as_params()


def demo_spec(wildcards):
    return PLAN.demo[wildcards.demo]


# The demo's models are trained at the embedded source pool's image size.
DEMO_INPUT_SIZE = PLAN.embedded["source"]["image_size"] if "source" in PLAN.embedded else 224


# The published tables the workflow ships (data/published/), which the report's section
# "10. Published benchmarks" analyses.
PUBLISHED = ROOT / "data" / "published"


def published_report(path, caption, benchmark, table):
    """A file of the report's published-benchmarks section."""
    return report(
        path,
        caption=f"../report/{caption}",
        category="10. Published benchmarks",
        labels={"benchmark": benchmark, "table": table},
    )
