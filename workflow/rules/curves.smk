# The paper's Figure 1: one model per architecture trained on the whole source pool (not a subset
# model), a checkpoint kept per epoch; S1..S6 and the feature norm measured on every checkpoint
# afterwards, so that a new probe set or S6 margin reruns the measurement, never the training.
# The same whole-pool model is the base model of the layer selection (layers.smk).
CURVE_ARCHS = PLAN.curves  # [] when curves.enabled is false


rule pretrain_whole:
    input:
        index="results/data/index/source.tsv",
        decoded=decoded_images("source"),
    output:
        model="results/curves/{arch}/model.pt",
        epochs=report(
            "results/curves/{arch}/epochs.tsv",
            caption="../report/curves_epochs.rst",
            category="8. Scores during training",
            subcategory="{arch}",
            labels={"architecture": "{arch}", "file": "per-epoch training log"},
        ),
        checkpoints=directory("results/curves/{arch}/checkpoints"),
    log:
        "logs/curves/{arch}/pretrain_whole.log",
    benchmark:
        "results/benchmarks/curves/{arch}/pretrain_whole.tsv"
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=whole_runtime,
        mem_mb=TRAIN_MEM,
    params:
        code=code("pretrain_whole.py"),
        spec=arch_spec,
        schedule=whole_pool_schedule,
        seed=config["seed"],
        # Neither is an output: Snakemake would delete them with a failed job's outputs, and a
        # resumed run needs the checkpoints of the epochs before the kill.
        resume="results/curves/{arch}/resume.pt",
        staging="results/curves/{arch}/checkpoints.partial",
    script:
        "../scripts/pretrain_whole.py"


rule curve_scores:
    input:
        checkpoints="results/curves/{arch}/checkpoints",
        index="results/data/index/source.tsv",
        decoded=decoded_images("source"),
    output:
        report(
            "results/curves/{arch}/scores.tsv",
            caption="../report/curve_scores.rst",
            category="8. Scores during training",
            subcategory="{arch}",
            labels={"architecture": "{arch}", "file": "per-epoch scores"},
        ),
    log:
        "logs/curves/{arch}/scores.log",
    benchmark:
        "results/benchmarks/curves/{arch}/scores.tsv"
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=curve_scores_runtime,
        mem_mb=TRAIN_MEM,
    params:
        code=code("curve_scores.py"),
        probe_per_class=config["curves"]["probe_per_class"],
        s6_margin=config["scores"]["s6_margin"],
        seed=config["seed"],
    script:
        "../scripts/curve_scores.py"


rule curve_correlations:
    input:
        epochs=expand("results/curves/{arch}/epochs.tsv", arch=CURVE_ARCHS),
        scores=expand("results/curves/{arch}/scores.tsv", arch=CURVE_ARCHS),
    output:
        report(
            "results/curves/correlations.tsv",
            caption="../report/curve_correlations.rst",
            category="8. Scores during training",
            labels={"table": "correlation with validation accuracy across epochs"},
        ),
    log:
        "logs/curves/correlations.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("curve_correlations.py"),
        archs=CURVE_ARCHS,
    script:
        "../scripts/curve_correlations.py"


rule plot_figure1:
    input:
        epochs=expand("results/curves/{arch}/epochs.tsv", arch=CURVE_ARCHS),
        scores=expand("results/curves/{arch}/scores.tsv", arch=CURVE_ARCHS),
        correlations="results/curves/correlations.tsv",
    output:
        report(
            "results/plots/figure1.svg",
            caption="../report/figure1.rst",
            category="8. Scores during training",
            labels={"figure": "Figure 1: accuracy and standardised scores per epoch"},
        ),
    log:
        "logs/plots/figure1.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("plot_figure1.py"),
        archs=CURVE_ARCHS,
    script:
        "../scripts/plot_figure1.py"


if PLAN.curves:
    FINAL += [*rules.curve_correlations.output, *rules.plot_figure1.output]
