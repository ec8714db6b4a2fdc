# Analysis: one table of scores and accuracies (and one of what each cost), then correlations, the
# alpha sweep, C_56 and the leaderboard of the paper's scores beside the later literature's.

rule table:
    input:
        scores=pair_files("results/{rep}scores/{arch}/{subset}/{target}.json"),
        baselines=pair_files("results/{rep}baselines/{arch}/{subset}/{target}.json"),
        finetune=finetuned_pair_files("results/{rep}finetune/{arch}/{subset}/{target}.json"),
        ground_truth=GROUND_TRUTH,
    output:
        table=report(
            "results/{rep}analysis/table.tsv",
            caption="../report/table.rst",
            category="7. Summary",
            labels=replicate_labels({"table": "scores and accuracy per (architecture, subset, target)"}),
        ),
        costs=report(
            "results/{rep}analysis/costs.tsv",
            caption="../report/costs.rst",
            category="7. Summary",
            labels=replicate_labels({"table": "seconds per score and per fine-tuning, per (architecture, subset, target)"}),
        ),
    params:
        code=code("table.py"),
        pairs=[[a, s, t] for a, s in BASE_MODELS for t in TARGETS],
        # the published table that gives the accuracy of some zoo pairs, and those pairs (config ground_truth)
        ground_truth=GROUND_TRUTH_PARAMS,
    log:
        "logs/{rep}analysis/table.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/table.py"


rule analysis:
    input:
        table="results/{rep}analysis/table.tsv",
    output:
        # the files science.analysis.analyze returns, by name
        correlations=report(
            "results/{rep}analysis/correlations.tsv",
            caption="../report/correlations_table.rst",
            category="5. Correlations",
            labels={"table": "ranking measures per (architecture, target, metric)"},
        ),
        alpha_sweep="results/{rep}analysis/alpha_sweep.tsv",
        best_alpha=report(
            "results/{rep}analysis/best_alpha.tsv",
            caption="../report/best_alpha.rst",
            category="6. Alpha sweep",
            labels={"table": "best alpha of every pair"},
        ),
        c56_summary=report(
            "results/{rep}analysis/c56_summary.tsv",
            caption="../report/c56_summary.rst",
            category="7. Summary",
            labels={"table": "C_56 beside the paper"},
        ),
        leaderboard=report(
            "results/{rep}analysis/leaderboard.tsv",
            caption="../report/leaderboard_table.rst",
            category="5. Correlations",
            labels={"table": "leaderboard of all scores"},
        ),
        summary="results/{rep}analysis/summary.json",
    params:
        code=code("analysis.py"),
        alpha_step=config["analysis"]["alpha_step"],
        bootstrap=config["analysis"]["bootstrap"],
        seed=config["seed"],
    log:
        "logs/{rep}analysis/analysis.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/analysis.py"


FINAL += expand([*rules.table.output, *rules.analysis.output], rep="")


# Across replicates (config `replicates` >= 2): every score's measures per replicate, their spread,
# win rates over (replicate, group) cases, the conclusions that hold in every replicate.
rule replicates:
    input:
        tables=expand("results/{rep}analysis/table.tsv", rep=REPS),
    output:
        summary=report(
            "results/analysis/replicates.tsv",
            caption="../report/replicates_table.rst",
            category="7. Summary",
            labels={"table": "every score across replicates"},
        ),
        win_rates="results/analysis/win_rates.tsv",
        conclusions="results/analysis/replicates.json",
    params:
        code=code("replicates.py"),
        alpha_step=config["analysis"]["alpha_step"],
    log:
        "logs/analysis/replicates.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/replicates.py"


if len(REPS) > 1:
    FINAL += [*rules.replicates.output]
