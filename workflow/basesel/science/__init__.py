"""The science: S1..S6 (featuremap_scores), the later literature's baselines (transfer/), rank
statistics (stats), the analysis of a score table (analysis), Figure 1 / A.2 aggregates
(experiments) and what each score costs (costs). numpy, scipy and pandas only: no torch."""
