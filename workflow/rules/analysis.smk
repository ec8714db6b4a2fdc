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
            labels=replicate_labels(
                {"table": "seconds per score and per fine-tuning, per (architecture, subset, target)"}
            ),
        ),
    log:
        "logs/{rep}analysis/table.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("table.py"),
        pairs=[[a, s, t] for a, s in BASE_MODELS for t in TARGETS],
        # the published table that gives the accuracy of some zoo pairs, and those pairs (config ground_truth)
        ground_truth=GROUND_TRUTH_PARAMS,
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
        picks=report(
            "results/{rep}analysis/picks.tsv",
            caption="../report/picks.rst",
            category="7. Summary",
            labels={"table": "the base model each score picks per (architecture, target)"},
        ),
        summary="results/{rep}analysis/summary.json",
    log:
        "logs/{rep}analysis/analysis.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("analysis.py"),
        alpha_step=config["analysis"]["alpha_step"],
        bootstrap=config["analysis"]["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/analysis.py"


FINAL += expand([*rules.table.output, *rules.analysis.output], rep="")


# The report's front page answer: the winning score, where the paper's stand, and per (architecture,
# target) the base model the winner picks beside fine-tuning's best; workflow/report/workflow.rst
# includes it.
rule answer:
    input:
        leaderboard="results/analysis/leaderboard.tsv",
        picks="results/analysis/picks.tsv",
        summary="results/analysis/summary.json",
    output:
        report(
            "results/analysis/answer.rst",
            caption="../report/answer.rst",
            category="7. Summary",
            labels={"table": "the front page's answer (reStructuredText)"},
        ),
    log:
        "logs/analysis/answer.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("answer.py"),
    script:
        "../scripts/answer.py"


FINAL += [*rules.answer.output]


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
    log:
        "logs/analysis/replicates.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("replicates.py"),
        alpha_step=config["analysis"]["alpha_step"],
    script:
        "../scripts/replicates.py"


if len(REPS) > 1:
    FINAL += [*rules.replicates.output]


# What the field's published tables already say (data/published/, shipped with the workflow): the
# analysis of TLlib's and SFDA's fine-tuned accuracies against their printed scores and ImageNet
# top-1 accuracy, and how far the two published fine-tunings agree.
rule published:
    input:
        tllib=PUBLISHED / "tllib.tsv",
        sfda=PUBLISHED / "sfda.tsv",
        sfda_printed=PUBLISHED / "sfda_printed.tsv",
    output:
        # the files science.published.benchmarks returns, by name
        tllib_leaderboard=published_report(
            "results/published/tllib/leaderboard.tsv", "published_leaderboard.rst", "TLlib", "leaderboard"
        ),
        tllib_correlations=published_report(
            "results/published/tllib/correlations.tsv", "published_correlations.rst", "TLlib", "per target"
        ),
        tllib_win_rates=published_report(
            "results/published/tllib/win_rates.tsv", "published_win_rates.rst", "TLlib", "win rates"
        ),
        tllib_summary="results/published/tllib/summary.json",
        sfda_leaderboard=published_report(
            "results/published/sfda/leaderboard.tsv", "published_leaderboard.rst", "SFDA", "leaderboard"
        ),
        sfda_correlations=published_report(
            "results/published/sfda/correlations.tsv", "published_correlations.rst", "SFDA", "per target"
        ),
        sfda_summary="results/published/sfda/summary.json",
        sfda_printed=published_report(
            "results/published/sfda/printed.tsv", "published_sfda_printed.rst", "SFDA", "printed weighted tau"
        ),
        agreement=published_report(
            "results/published/agreement/correlations.tsv",
            "published_agreement.rst",
            "TLlib and SFDA",
            "agreement of the two",
        ),
        agreement_summary="results/published/agreement/summary.json",
    log:
        "logs/published.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("published.py"),
        bootstrap=config["analysis"]["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/published.py"


FINAL += [*rules.published.output]
