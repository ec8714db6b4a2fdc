# Analysis: one table of scores and accuracies (and one of what each cost), then correlations, the
# alpha sweep, C_56 and the leaderboard of the paper's scores beside the later literature's.

PAIRS = dict(arch=ARCHS, subset=SUBSETS, target=TARGETS)


rule table:
    input:
        scores=expand("results/scores/{arch}/{subset}/{target}.json", **PAIRS),
        baselines=expand("results/baselines/{arch}/{subset}/{target}.json", **PAIRS),
        finetune=expand("results/finetune/{arch}/{subset}/{target}.json", **PAIRS),
    output:
        table=report(
            "results/analysis/table.tsv",
            caption="../report/table.rst",
            category="7. Summary",
            labels={"table": "scores and accuracy per (architecture, subset, target)"},
        ),
        costs=report(
            "results/analysis/costs.tsv",
            caption="../report/costs.rst",
            category="7. Summary",
            labels={"table": "seconds per score and per fine-tuning, per (architecture, subset, target)"},
        ),
    params:
        code=code("table.py"),
        archs=ARCHS,
        subsets=SUBSETS,
        targets=TARGETS,
    log:
        "logs/analysis/table.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/table.py"


rule analysis:
    input:
        table="results/analysis/table.tsv",
    output:
        *[analysis_output(name) for name in ANALYSIS_OUTPUTS],
    params:
        code=code("analysis.py"),
        alpha_step=config["analysis"]["alpha_step"],
        bootstrap=config["analysis"]["bootstrap"],
        seed=config["seed"],
    log:
        "logs/analysis/analysis.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/analysis.py"
