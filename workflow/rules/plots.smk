# Figures for the report: the paper's Figures 2 and 3, and views of every stage.
# The datasets shown: the source pool where base models are pretrained on it, and every target.
DATASETS = [*(["source"] if ARCHS else []), *TARGETS]


rule plot_data:
    input:
        indexes=expand("results/data/index/{dataset}.tsv", dataset=DATASETS),
        subsets=expand("results/subsets/{subset}.tsv", subset=SUBSETS),
    output:
        montage=report(
            "results/plots/data.png",
            caption="../report/data.rst",
            category="1. Data and subsets",
            labels={"figure": "sample images"},
        ),
        subsets=report(
            "results/plots/subsets.tsv",
            caption="../report/subsets.rst",
            category="1. Data and subsets",
            labels={"figure": "subset sizes"},
        ),
    log:
        "logs/plots/data.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("plot_data.py"),
        datasets=DATASETS,
        subsets=SUBSETS,
        seed=config["seed"],
    script:
        "../scripts/plot_data.py"


rule plot_pretraining:
    input:
        epochs=expand("results/pretrain/{{arch}}/{subset}/epochs.tsv", subset=SUBSETS),
    output:
        report(
            "results/plots/pretraining_{arch}.svg",
            caption="../report/pretraining.rst",
            category="2. Pretraining",
            subcategory="{arch}",
            labels={"architecture": "{arch}", "subset": "all", "file": "curves"},
        ),
    log:
        "logs/plots/pretraining_{arch}.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("plot_pretraining.py"),
        subsets=SUBSETS,
    script:
        "../scripts/plot_pretraining.py"


# The figures that one table or two make (basesel.plots.FIGURES): one script, a rule each, its
# named inputs the figure function's arguments (wildcards are passed too).
TABLE_FIGURES = {
    "plot_scores": dict(
        figure="scores_vs_accuracy",
        inputs={"table": "results/analysis/table.tsv"},
        output="results/plots/scores_{arch}.svg",
        caption="scores.rst",
        category="3. Scores",
        labels={"architecture": "{arch}"},
        log="logs/plots/scores_{arch}.log",
    ),
    "plot_finetune": dict(
        figure="finetune_heatmap",
        inputs={"table": "results/analysis/table.tsv"},
        output="results/plots/finetune.svg",
        caption="finetune.rst",
        category="4. Fine-tuning",
        labels={"figure": "accuracy per base model and target"},
        log="logs/plots/finetune.log",
    ),
    "plot_figure2": dict(
        figure="figure2",
        inputs={"corr": "results/analysis/correlations.tsv"},
        output="results/plots/figure2.svg",
        caption="figure2.rst",
        category="5. Correlations",
        labels={"figure": "Figure 2: Spearman rho per metric"},
        log="logs/plots/figure2.log",
    ),
    "plot_figure3": dict(
        figure="figure3",
        inputs={"sweep": "results/analysis/alpha_sweep.tsv", "best": "results/analysis/best_alpha.tsv"},
        output="results/plots/figure3.svg",
        caption="figure3.rst",
        category="6. Alpha sweep",
        labels={"figure": "Figure 3: rho of C_ij(alpha)"},
        log="logs/plots/figure3.log",
    ),
    "plot_leaderboard": dict(
        figure="leaderboard_figure",
        inputs={"board": "results/analysis/leaderboard.tsv"},
        output="results/plots/leaderboard.svg",
        caption="leaderboard.rst",
        category="5. Correlations",
        labels={"figure": "leaderboard of all scores"},
        log="logs/plots/leaderboard.log",
    ),
    "plot_cost": dict(
        figure="cost_figure",
        inputs={"board": "results/analysis/leaderboard.tsv", "costs": "results/analysis/costs.tsv"},
        output="results/plots/cost.svg",
        caption="cost.rst",
        category="5. Correlations",
        labels={"figure": "ranking quality against cost"},
        log="logs/plots/cost.log",
    ),
    "plot_figure5": dict(
        figure="figure5",
        inputs={"corr": "results/layers/correlations.tsv"},
        output="results/plots/figure5.svg",
        caption="figure5.rst",
        category="9. Layer selection",
        labels={"figure": "Figure 5: Spearman rho across layers per metric"},
        log="logs/plots/figure5.log",
    ),
    "plot_replicates": dict(
        figure="replicates_figure",
        inputs={"summary": "results/analysis/replicates.tsv"},
        output="results/plots/replicates.svg",
        caption="replicates.rst",
        category="7. Summary",
        labels={"figure": "every score over replicates"},
        log="logs/plots/replicates.log",
    ),
}

for rule_name, figure in TABLE_FIGURES.items():

    rule:
        name:
            rule_name
        input:
            **figure["inputs"],
        output:
            report(
                figure["output"],
                caption=f"../report/{figure['caption']}",
                category=figure["category"],
                labels=figure["labels"],
            ),
        log:
            figure["log"],
        conda:
            "../../envs/basesel.yaml"
        params:
            code=code("plot.py"),
            figure=figure["figure"],
        script:
            "../scripts/plot.py"


FINAL += [
    *rules.plot_data.output,
    *expand(rules.plot_pretraining.output[0], arch=ARCHS),
    *expand(rules.plot_scores.output[0], arch=GROUPS),
    *rules.plot_finetune.output,
    *rules.plot_figure2.output,
    *rules.plot_figure3.output,
    *rules.plot_leaderboard.output,
    *rules.plot_cost.output,
]
if len(REPS) > 1:  # the across-replicate figure
    FINAL += [*rules.plot_replicates.output]
