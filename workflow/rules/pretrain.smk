# Pretraining: one base model per (architecture, source subset), resumable after a killed job.


rule pretrain:
    input:
        subset="results/subsets/{subset}.tsv",
    output:
        model="results/pretrain/{arch}/{subset}/model.pt",
        epochs=report(
            "results/pretrain/{arch}/{subset}/epochs.tsv",
            caption="../report/pretrain_epochs.rst",
            category="2. Pretraining",
            subcategory="{arch}",
            labels={"architecture": "{arch}", "subset": "{subset}", "file": "per-epoch log"},
        ),
    params:
        code=code("pretrain.py"),
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
