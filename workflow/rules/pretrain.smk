# Pretraining: one base model per (architecture, source subset), Table 3 schedule, resumable.


rule pretrain:
    input:
        subset="results/subsets/{subset}.tsv",
        code=lib("models", "training", "data"),
    output:
        model="results/pretrain/{arch}/{subset}/model.pt",
        log=report(
            "results/pretrain/{arch}/{subset}/log.tsv",
            caption="../report/pretrain_log.rst",
            category="2. Pretraining",
            subcategory="{arch}",
            labels={"architecture": "{arch}", "subset": "{subset}", "file": "per-epoch log"},
        ),
    params:
        spec=arch_spec,
        schedule=pretrain_schedule,
        seed=config["seed"],
        # Not an output: Snakemake would delete it with a failed job's outputs.
        resume="results/pretrain/{arch}/{subset}/resume.pt",
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=pretrain_runtime,
        mem_mb=TRAIN_MEM,
    log:
        "logs/pretrain/{arch}/{subset}.log",
    benchmark:
        "results/benchmarks/pretrain/{arch}/{subset}.tsv"
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/pretrain.py"
