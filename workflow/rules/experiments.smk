# The paper's remaining experiments, on one model per architecture trained on the whole source pool
# (not a subset model: the pretrain rule's outputs are untouched, and nothing here reruns them).
# Figure 1 (config "curves"): S1..S6, the feature norm and validation accuracy at every epoch of its
# training. Appendix A.2, Figures 4 and 5 (config "layers"): truncate fine-tuning after every conv
# layer of the same model, and S1..S6 of that layer on each target's probe set.
from basesel.config import by_arch  # noqa: E402

CURVE_ARCHS = PLAN.curves  # [] when curves.enabled is false
LAYER_ARCHS = PLAN.layers  # [] when layers.enabled is false
# Per-epoch checkpoints are an output only when asked for; the job stages them in a folder that is
# not an output (Snakemake deletes a failed job's outputs), so a resumed run keeps the earlier ones.
CHECKPOINTS = (
    {"checkpoints": directory("results/curves/{arch}/checkpoints")}
    if config["curves"]["keep_checkpoints"]
    else {}
)

# The whole-pool model's schedule: the architecture's pretrain schedule with the keys of
# curves.schedule replaced; the new FC layers of the layer selection: finetune.schedule with the
# keys of layers.schedule replaced.
WHOLE_SCHEDULE = by_arch(PLAN.whole_schedules)
LAYERS_SCHEDULE = {**config["finetune"]["schedule"], **config["layers"]["schedule"]}


rule pretrain_whole:
    input:
        index="results/data/index/source.tsv",
        code=lib("models", "training", "data", "curves", "scores"),
    output:
        model="results/curves/{arch}/model.pt",
        log=report(
            "results/curves/{arch}/log.tsv",
            caption="../report/curves_log.rst",
            category="8. Scores during training",
            subcategory="{arch}",
            labels={"architecture": "{arch}", "file": "per-epoch log"},
        ),
        **CHECKPOINTS,
    params:
        spec=arch_spec,
        schedule=WHOLE_SCHEDULE,
        probe={
            "probe_per_class": config["curves"]["probe_per_class"],
            "s6_margin": config["scores"]["s6_margin"],
        },
        seed=config["seed"],
        # Neither is an output: Snakemake would delete them with a failed job's outputs.
        resume="results/curves/{arch}/resume.pt",
        staging="results/curves/{arch}/checkpoints.partial",
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=whole_runtime,
        mem_mb=TRAIN_MEM,
    log:
        "logs/curves/{arch}/pretrain_whole.log",
    benchmark:
        "results/benchmarks/curves/{arch}/pretrain_whole.tsv"
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/pretrain_whole.py"


rule curve_correlations:
    input:
        logs=expand("results/curves/{arch}/log.tsv", arch=CURVE_ARCHS),
        code=lib("experiments", "analysis"),
    output:
        report(
            "results/curves/correlations.tsv",
            caption="../report/curve_correlations.rst",
            category="8. Scores during training",
            labels={"table": "correlation with validation accuracy across epochs"},
        ),
    params:
        archs=CURVE_ARCHS,
    log:
        "logs/curves/correlations.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/curve_correlations.py"


rule plot_figure1:
    input:
        logs=expand("results/curves/{arch}/log.tsv", arch=CURVE_ARCHS),
        correlations="results/curves/correlations.tsv",
        code=lib("plots", "experiments"),
    output:
        report(
            "results/plots/figure1.svg",
            caption="../report/figure1.rst",
            category="8. Scores during training",
            labels={"figure": "Figure 1: accuracy and standardised scores per epoch"},
        ),
    params:
        archs=CURVE_ARCHS,
    log:
        "logs/plots/figure1.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_figure1.py"


rule layer_features:
    input:
        model="results/curves/{arch}/model.pt",
        indexes=target_indexes,
        code=lib("models", "layers", "data", "scores"),
    output:
        expand("results/layers/{{arch}}/{target}.h5", target=TARGETS),
    params:
        targets=list(TARGETS),
        probe_per_class=config["featuremaps"]["probe_per_class"],
        s6_margin=config["scores"]["s6_margin"],
        seed=config["seed"],
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=featuremaps_runtime,
        mem_mb=TRAIN_MEM,
    log:
        "logs/layers/{arch}/features.log",
    benchmark:
        "results/benchmarks/layers/{arch}/features.tsv"
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/layer_features.py"


rule layer_selection:
    input:
        h5=expand("results/layers/{{arch}}/{target}.h5", target=TARGETS),
        code=lib("layers", "finetune", "training"),
    output:
        table=report(
            "results/layers/{arch}/layers.tsv",
            caption="../report/layers_table.rst",
            category="9. Layer selection",
            subcategory="{arch}",
            labels={"architecture": "{arch}", "table": "scores and truncate fine-tuning accuracy per layer"},
        ),
        log="results/layers/{arch}/finetune_log.tsv",
    params:
        targets=list(TARGETS),
        schedule=LAYERS_SCHEDULE,
        seed=config["seed"],
    threads: config["compute"]["threads"]
    resources:
        runtime=table_runtime(3.0),
        mem_mb=table_mem,
    log:
        "logs/layers/{arch}/selection.log",
    benchmark:
        "results/benchmarks/layers/{arch}/selection.tsv"
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/layer_selection.py"


rule layer_correlations:
    input:
        tables=expand("results/layers/{arch}/layers.tsv", arch=LAYER_ARCHS),
        code=lib("experiments", "analysis"),
    output:
        report(
            "results/layers/correlations.tsv",
            caption="../report/layer_correlations.rst",
            category="9. Layer selection",
            labels={"table": "rank correlation across layers, and the layer each score selects"},
        ),
    params:
        archs=LAYER_ARCHS,
    log:
        "logs/layers/correlations.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/layer_correlations.py"


rule plot_figure4:
    input:
        tables=expand("results/layers/{arch}/layers.tsv", arch=LAYER_ARCHS),
        code=lib("plots"),
    output:
        report(
            "results/plots/figure4.svg",
            caption="../report/figure4.rst",
            category="9. Layer selection",
            labels={"figure": "Figure 4: truncate fine-tuning accuracy per layer"},
        ),
    params:
        archs=LAYER_ARCHS,
    log:
        "logs/plots/figure4.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_figure4.py"


rule plot_figure5:
    input:
        correlations="results/layers/correlations.tsv",
        code=lib("plots"),
    output:
        report(
            "results/plots/figure5.svg",
            caption="../report/figure5.rst",
            category="9. Layer selection",
            labels={"figure": "Figure 5: Spearman rho across layers per metric"},
        ),
    log:
        "logs/plots/figure5.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_figure5.py"
