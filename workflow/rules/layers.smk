# The paper's Appendix A.2 (Figures 4 and 5), on the whole-pool model of curves.smk, per
# (architecture, target): every conv layer's pooled features of the target's images, every layer's
# S1..S6 on the probe set, and a new FC layer per conv layer ("truncate fine-tuning").
LAYER_ARCHS = PLAN.layers  # [] when layers.enabled is false


rule layer_features:
    input:
        model="results/curves/{arch}/model.pt",
        index="results/data/index/{target}.tsv",
        decoded=decoded_images(),
    output:
        "results/layers/{arch}/features/{target}.h5",
    log:
        "logs/layers/{arch}/features_{target}.log",
    benchmark:
        "results/benchmarks/layers/{arch}/features_{target}.tsv"
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=target_pass_runtime,
        mem_mb=TRAIN_MEM,
    params:
        code=code("layer_features.py"),
    script:
        "../scripts/layer_features.py"


rule layer_scores:
    input:
        model="results/curves/{arch}/model.pt",
        probe="results/probes/{target}.tsv",
        decoded=decoded_images(),
    output:
        "results/layers/{arch}/scores/{target}.tsv",
    log:
        "logs/layers/{arch}/scores_{target}.log",
    benchmark:
        "results/benchmarks/layers/{arch}/scores_{target}.tsv"
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=probe_pass_runtime,
        mem_mb=TRAIN_MEM,
    params:
        code=code("layer_scores.py"),
        s6_margin=config["scores"]["s6_margin"],
    script:
        "../scripts/layer_scores.py"


rule layer_heads:
    input:
        h5="results/layers/{arch}/features/{target}.h5",
    output:
        heads="results/layers/{arch}/heads/{target}.tsv",
        epochs="results/layers/{arch}/heads/{target}.epochs.tsv",
    log:
        "logs/layers/{arch}/heads_{target}.log",
    benchmark:
        "results/benchmarks/layers/{arch}/heads_{target}.tsv"
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        runtime=size_runtime(3.0),
        mem_mb=size_mem,
    params:
        code=code("layer_heads.py"),
        schedule=PLAN.layer_head_schedule,
        seed=config["seed"],
    script:
        "../scripts/layer_heads.py"


rule layer_table:
    input:
        scores=expand("results/layers/{{arch}}/scores/{target}.tsv", target=TARGETS),
        heads=expand("results/layers/{{arch}}/heads/{target}.tsv", target=TARGETS),
    output:
        report(
            "results/layers/{arch}/layers.tsv",
            caption="../report/layers_table.rst",
            category="9. Layer selection",
            subcategory="{arch}",
            labels={"architecture": "{arch}", "table": "scores and truncate fine-tuning accuracy per layer"},
        ),
    log:
        "logs/layers/{arch}/table.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("layer_table.py"),
        targets=TARGETS,
    script:
        "../scripts/layer_table.py"


rule layer_correlations:
    input:
        tables=expand("results/layers/{arch}/layers.tsv", arch=LAYER_ARCHS),
    output:
        report(
            "results/layers/correlations.tsv",
            caption="../report/layer_correlations.rst",
            category="9. Layer selection",
            labels={"table": "rank correlation across layers, and the layer each score selects"},
        ),
    log:
        "logs/layers/correlations.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("layer_correlations.py"),
        archs=LAYER_ARCHS,
    script:
        "../scripts/layer_correlations.py"


rule plot_figure4:
    input:
        tables=expand("results/layers/{arch}/layers.tsv", arch=LAYER_ARCHS),
    output:
        report(
            "results/plots/figure4.svg",
            caption="../report/figure4.rst",
            category="9. Layer selection",
            labels={"figure": "Figure 4: truncate fine-tuning accuracy per layer"},
        ),
    log:
        "logs/plots/figure4.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("plot_figure4.py"),
        archs=LAYER_ARCHS,
    script:
        "../scripts/plot_figure4.py"


if PLAN.layers:
    FINAL += [*rules.layer_correlations.output, *rules.plot_figure4.output, *rules.plot_figure5.output]
