# Pretraining: one base model per (architecture, source subset), resumable after a killed job.


rule pretrain:
    input:
        subset="results/subsets/{subset}.tsv",
        decoded=decoded_images("source"),
    output:
        model="results/{rep}pretrain/{arch}/{subset}/model.pt",
        epochs=report(
            "results/{rep}pretrain/{arch}/{subset}/epochs.tsv",
            caption="../report/pretrain_epochs.rst",
            category="2. Pretraining",
            subcategory="{arch}",
            labels=replicate_labels({"architecture": "{arch}", "subset": "{subset}", "file": "per-epoch log"}),
        ),
    log:
        "logs/{rep}pretrain/{arch}/{subset}.log",
    benchmark:
        "results/{rep}benchmarks/pretrain/{arch}/{subset}.tsv"
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=pretrain_runtime,
        mem_mb=TRAIN_MEM,
    params:
        code=code("pretrain.py"),
        spec=arch_spec,
        schedule=pretrain_schedule,
        seed=replicate_seed_of,
        # Not an output: Snakemake would delete it with a failed job's outputs.
        resume="results/{rep}pretrain/{arch}/{subset}/resume.pt",
    script:
        "../scripts/pretrain.py"
