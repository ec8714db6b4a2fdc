"""Collect scores, baselines and fine-tuned accuracies into one table, a row per (arch, source, target),
and what each score and fine-tuning cost into another."""
from basesel.machinery.glue import run


def main(smk):
    import pandas as pd

    from basesel.io import read_json, write_tsv
    from basesel.science.costs import pair_costs
    from basesel.science.featuremap_scores import describe_reasons

    files = zip(smk.input.scores, smk.input.baselines, smk.input.finetune)
    rows, costs = [], []
    for (arch, subset, target), paths in zip(smk.params.pairs, files):
        records = {}
        for kind, path in zip(("scores", "baselines", "finetune"), paths):
            if f"/{arch}/{subset}/{target}." not in path:  # the inputs and the params list the pairs in one order
                raise RuntimeError(f"{path} is not the file of {arch}/{subset}/{target}")
            records[kind] = read_json(path)
        skip = ("seconds", "not_applicable")
        scores = {k: v for kind in ("scores", "baselines") for k, v in records[kind].items() if k not in skip}
        reasons = {k: v for kind in ("scores", "baselines") for k, v in records[kind].get("not_applicable", {}).items()}
        rows.append({"arch": arch, "source": subset, "target": target, **dict(sorted(scores.items())),
                     "accuracy": records["finetune"]["accuracy"], "not_applicable": describe_reasons(reasons)})
        costs += pair_costs(arch, subset, target, {kind: r["seconds"] for kind, r in records.items()})
    write_tsv(pd.DataFrame(rows), smk.output.table, float_format="%.10g")
    write_tsv(pd.DataFrame(costs), smk.output.costs, float_format="%.6g")


run(snakemake, main)
