# Figures for the report: the paper's Figures 2 and 3, and views of every stage.


rule plot_data:
    input:
        indexes=expand("results/data/index/{dataset}.tsv", dataset=["source", *TARGETS]),
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
    params:
        code=code("plot_data.py"),
        datasets=["source", *TARGETS],
        subsets=SUBSETS,
        seed=config["seed"],
    log:
        "logs/plots/data.log",
    conda:
        "../../envs/basesel.yaml"
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
    params:
        code=code("plot_pretraining.py"),
        subsets=SUBSETS,
    log:
        "logs/plots/pretraining_{arch}.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_pretraining.py"


rule plot_scores:
    input:
        table="results/analysis/table.tsv",
    output:
        report(
            "results/plots/scores_{arch}.svg",
            caption="../report/scores.rst",
            category="3. Scores",
            labels={"architecture": "{arch}"},
        ),
    params:
        code=code("plot_scores.py"),
    log:
        "logs/plots/scores_{arch}.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_scores.py"


rule plot_finetune:
    input:
        table="results/analysis/table.tsv",
    output:
        report(
            "results/plots/finetune.svg",
            caption="../report/finetune.rst",
            category="4. Fine-tuning",
            labels={"figure": "accuracy per base model and target"},
        ),
    params:
        code=code("plot_finetune.py"),
    log:
        "logs/plots/finetune.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_finetune.py"


rule plot_figure2:
    input:
        correlations="results/analysis/correlations.tsv",
    output:
        report(
            "results/plots/figure2.svg",
            caption="../report/figure2.rst",
            category="5. Correlations",
            labels={"figure": "Figure 2: Spearman rho per metric"},
        ),
    params:
        code=code("plot_figure2.py"),
    log:
        "logs/plots/figure2.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_figure2.py"


rule plot_figure3:
    input:
        sweep="results/analysis/alpha_sweep.tsv",
        best="results/analysis/best_alpha.tsv",
    output:
        report(
            "results/plots/figure3.svg",
            caption="../report/figure3.rst",
            category="6. Alpha sweep",
            labels={"figure": "Figure 3: rho of C_ij(alpha)"},
        ),
    params:
        code=code("plot_figure3.py"),
    log:
        "logs/plots/figure3.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_figure3.py"


rule plot_leaderboard:
    input:
        leaderboard="results/analysis/leaderboard.tsv",
    output:
        report(
            "results/plots/leaderboard.svg",
            caption="../report/leaderboard.rst",
            category="5. Correlations",
            labels={"figure": "leaderboard of all scores"},
        ),
    params:
        code=code("plot_leaderboard.py"),
    log:
        "logs/plots/leaderboard.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_leaderboard.py"


rule plot_cost:
    input:
        leaderboard="results/analysis/leaderboard.tsv",
        costs="results/analysis/costs.tsv",
    output:
        report(
            "results/plots/cost.svg",
            caption="../report/cost.rst",
            category="5. Correlations",
            labels={"figure": "ranking quality against cost"},
        ),
    params:
        code=code("plot_cost.py"),
    log:
        "logs/plots/cost.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/plot_cost.py"
