# Cluster resources (runtime in minutes, memory in MB), scaled by the config and by the files already
# made (workflow/basesel/machinery/resources.py). A function of `input` is evaluated when its job is about to
# be submitted, so it reads the row count of an index or subset written earlier in the run.
import json
import os

from basesel.machinery import resources as cost_model  # noqa: E402  (not `resources`: a rule keyword)

THREADS = config["compute"]["threads"]
PRELOAD_MB = config["compute"]["preload_max_mb"]
SCRATCH_GB = config["compute"]["scratch_max_gb"]
# GPU rules ask the cluster for a GPU unless the config says cpu; a local run has no gpu limit, so
# the request costs nothing there, and the job itself picks CUDA or the CPU.
GPU = 0 if config["compute"]["device"] == "cpu" else 1
TRAIN_MEM = cost_model.loader_mb(PRELOAD_MB, THREADS)


def _rows(path, dataset):
    return cost_model.tsv_rows(path, PLAN.planned_images(dataset))


def _model(wildcards):
    """What the cost model knows of a base model: a pretrained architecture's config, or a zoo
    model's (its GMACs at 224 px, its input size: its card's once checked, else its entry's)."""
    if wildcards.arch != ZOO_GROUP:
        return PLAN.archs[wildcards.arch]
    entry = PLAN.zoo[wildcards.subset]
    size = entry.preprocess.get("input_size", 224)
    try:  # the card a checked zoo model has (a plan of a run marked complete has empty ones)
        size = json.loads(Path(f"results/zoo/{wildcards.subset}.json").read_text())["preprocess"]["input_size"]
    except (OSError, ValueError, KeyError):
        pass
    return {"name": entry.arch or ZOO_GROUP, "width": 1.0, "input_size": size, "gmacs_224": entry.gmacs}


def _split_rows(path, dataset):
    return cost_model.tsv_split_rows(path, PLAN.planned_images(dataset))


def _training(wildcards, images, epochs, attempt):
    # images: (training images, validation images), the latter at a forward pass's cost each epoch
    model = _model(wildcards)
    train, val = images
    return cost_model.training_minutes(
        model,
        train_images=train,
        eval_images=val,
        epochs=epochs,
        gpu=GPU > 0,
        threads=THREADS,
        attempt=attempt,
        decode=cost_model.training_decode(train + val, model["input_size"], PRELOAD_MB, SCRATCH_GB),
    )


def _inference(wildcards, images, attempt):
    return cost_model.inference_minutes(
        _model(wildcards), images=images, gpu=GPU > 0, threads=THREADS, decoded=False, attempt=attempt
    )


def pretrain_runtime(wildcards, input, attempt):
    return _training(
        wildcards, _split_rows(input.subset, "source"), PLAN.pretrain_schedules[wildcards.arch]["epochs"], attempt
    )


def whole_runtime(wildcards, input, attempt):
    return _training(
        wildcards, _split_rows(input.index, "source"), PLAN.whole_pool_schedules[wildcards.arch]["epochs"], attempt
    )


def finetune_full_runtime(wildcards, input, attempt):
    return _training(wildcards, _split_rows(input.index, wildcards.target), PLAN.finetune_schedule["epochs"], attempt)


def target_pass_runtime(wildcards, input, attempt):
    # One forward pass over a target's images (features, layer features).
    return _inference(wildcards, _rows(input.index, wildcards.target), attempt)


def probe_pass_runtime(wildcards, input, attempt):
    # One forward pass over the probe images (featuremaps, layer scores); a tenth of the target
    # before the probe table exists.
    return _inference(wildcards, cost_model.tsv_rows(input.probe, PLAN.planned_images(wildcards.target) // 10), attempt)


def _input_mb(input):
    # os.path.getsize, not input.size_mb: Snakemake's storage-aware sizes cost ~2 ms a job, seconds
    # over the paper's ~5,700 jobs whenever a run is planned. A file not made yet counts 0.
    return sum(os.path.getsize(f) for f in input if os.path.isfile(f)) / 2**20


def size_runtime(per_mb_seconds):
    """For CPU jobs whose work grows with the size of what they read (features, featuremaps, tables)."""

    def runtime(wildcards, input, attempt):
        return cost_model.minutes(per_mb_seconds * _input_mb(input), attempt)

    return runtime


def size_mem(wildcards, input):
    return cost_model.table_mb(_input_mb(input))


def index_runtime(wildcards, attempt):
    # Images are not counted at parse time: a listing of ImageNet costs minutes on a shared filesystem.
    per_image = 0.01 if config["data"]["verify"] == "decode" else 0.002
    return cost_model.minutes(PLAN.planned_images(wildcards.dataset) * per_image / THREADS, attempt)


def decode_runtime(wildcards, input, attempt):
    return cost_model.decode_minutes(_rows(input.index, wildcards.dataset), threads=THREADS, attempt=attempt)


def curve_scores_runtime(wildcards, input, attempt):
    # The probe pass of every epoch's checkpoint (Figure 1): probe_per_class images per source class.
    classes = PLAN.embedded["source"]["classes"] if "source" in PLAN.embedded else PLAN.class_counts["source"]
    images = classes * config["curves"]["probe_per_class"] * PLAN.whole_pool_schedules[wildcards.arch]["epochs"]
    return _inference(wildcards, images, attempt)


def _features_shape(path, wildcards):
    """(training images, features) of a features file once written; before, the target's planned
    images and 4,096 features (VGG16's, the widest of the paper's)."""
    try:
        import h5py

        with h5py.File(path, "r", locking=False) as f:
            train = int((f["feature_split"][:] == 0).sum()) if "feature_split" in f else f["features"].shape[0]
            return train, int(f["features"].shape[1])
    except (OSError, KeyError):
        return PLAN.planned_images(wildcards.target), 4096


def baselines_runtime(wildcards, input, attempt):
    """The baselines of the training split: the kNN and PARC distances and the linear probe's
    iteration cap count beside the size of the file (machinery/resources.py)."""
    n, d = _features_shape(input.h5, wildcards)
    classes = (
        PLAN.embedded[wildcards.target]["classes"]
        if wildcards.target in PLAN.embedded
        else PLAN.class_counts[wildcards.target]
    )
    return cost_model.baselines_minutes(
        _input_mb(input), n, d, classes, linear_probe=config["scores"]["linear_probe"], attempt=attempt
    )


def baselines_mem(wildcards, input):
    """What the baselines read whole, and PARC's chunk of sorted dissimilarities (up to 1.6 GB
    while it is gathered: transfer/parc.py CHUNK)."""
    return cost_model.table_mb(_input_mb(input)) + 2000
