"""Collect scores, baselines and fine-tuned accuracies into one table, a row per (arch, source, target),
and what each score and fine-tuning cost into another. Where a published table gives a pair's
accuracy (config ground_truth), the accuracy is the table's and `accuracy_source` says so."""
from basesel.machinery.glue import run


def main(smk):
    import pandas as pd

    from basesel.io import read_json, write_tsv
    from basesel.science import published
    from basesel.science.costs import pair_costs
    from basesel.science.featuremap_scores import describe_reasons

    accuracies, covered, source = {}, set(), None
    if smk.params.ground_truth:
        gt = smk.params.ground_truth
        accuracies = published.read(smk.input.ground_truth[0], model=gt["model"], target=gt["target"],
                                    accuracy=gt["accuracy"])
        covered, source = {tuple(p) for p in gt["pairs"]}, published.source_of(gt["table"])
    finetuned = iter(smk.input.finetune)
    rows, costs = [], []
    for arch, subset, target in smk.params.pairs:
        paths = {"scores": smk.input.scores[len(rows)], "baselines": smk.input.baselines[len(rows)]}
        from_table = (arch, subset, target) in covered
        if not from_table:
            paths["finetune"] = next(finetuned)
        records = {}
        for kind, path in paths.items():
            if f"/{arch}/{subset}/{target}." not in path:  # the inputs and the params list the pairs in one order
                raise RuntimeError(f"{path} is not the file of {arch}/{subset}/{target}")
            records[kind] = read_json(path)
        skip = ("seconds", "not_applicable")
        scores = {k: v for kind in ("scores", "baselines") for k, v in records[kind].items() if k not in skip}
        reasons = {k: v for kind in ("scores", "baselines") for k, v in records[kind].get("not_applicable", {}).items()}
        accuracy = accuracies[(target, subset)] if from_table else records["finetune"]["accuracy"]
        row = {"arch": arch, "source": subset, "target": target, **dict(sorted(scores.items())), "accuracy": accuracy}
        if source is not None:  # only where a published table is configured: other runs' tables stay as they were
            row["accuracy_source"] = source if from_table else published.FINETUNED_HERE
        rows.append({**row, "not_applicable": describe_reasons(reasons)})
        costs += pair_costs(arch, subset, target, {kind: r["seconds"] for kind, r in records.items()})
    write_tsv(pd.DataFrame(rows), smk.output.table, float_format="%.10g")
    write_tsv(pd.DataFrame(costs), smk.output.costs, float_format="%.6g")


run(snakemake, main)
