# Analysis: one table of scores and accuracies, then correlations, the alpha sweep, C_56 and the
# leaderboard of the paper's scores beside the later literature's.


rule table:
    input:
        scores=expand("results/scores/{arch}/{subset}/{target}.json", arch=ARCHS, subset=SUBSETS, target=TARGETS),
        finetune=expand("results/finetune/{arch}/{subset}/{target}.json", arch=ARCHS, subset=SUBSETS, target=TARGETS),
    output:
        report(
            "results/analysis/table.tsv",
            caption="../report/table.rst",
            category="7. Summary",
            labels={"table": "scores and accuracy per (architecture, subset, target)"},
        ),
    params:
        archs=list(ARCHS),
        subsets=SUBSETS,
        targets=list(TARGETS),
    log:
        "logs/analysis/table.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/table.py"


rule analysis:
    input:
        table="results/analysis/table.tsv",
        code=lib("analysis"),
    output:
        correlations=report(
            "results/analysis/correlations.tsv",
            caption="../report/correlations_table.rst",
            category="5. Correlations",
            labels={"table": "ranking measures per (architecture, target, metric)"},
        ),
        sweep="results/analysis/alpha_sweep.tsv",
        best=report(
            "results/analysis/best_alpha.tsv",
            caption="../report/best_alpha.rst",
            category="6. Alpha sweep",
            labels={"table": "best alpha of every pair"},
        ),
        c56=report(
            "results/analysis/c56_summary.tsv",
            caption="../report/c56_summary.rst",
            category="7. Summary",
            labels={"table": "C_56 beside the paper"},
        ),
        leaderboard=report(
            "results/analysis/leaderboard.tsv",
            caption="../report/leaderboard_table.rst",
            category="5. Correlations",
            labels={"table": "leaderboard of all scores"},
        ),
        summary="results/analysis/summary.json",
    params:
        settings=config["analysis"],
        seed=config["seed"],
    log:
        "logs/analysis/analysis.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/analysis.py"
