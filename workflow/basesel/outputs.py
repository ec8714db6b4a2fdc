"""File names of the analysis outputs, in one place: the rules (when the Snakefile is parsed), the
analysis that writes them and `basesel analyze` all read them here."""

ANALYSIS_OUTPUTS = ("correlations.tsv", "alpha_sweep.tsv", "best_alpha.tsv", "c56_summary.tsv", "leaderboard.tsv",
                    "summary.json")
