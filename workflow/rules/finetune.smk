# Fine-tuning, the ground truth: replace the last FC layer and train it (head mode, on cached
# penultimate features, one job per base model for all targets) or the whole network (full mode,
# on images, one job per base model and target). Only the rule of the configured mode exists.

if config["finetune"]["mode"] == "head":

    rule finetune_head:
        input:
            h5=featuremap_files,
            code=lib("finetune", "training"),
        output:
            result=expand("results/finetune/{{arch}}/{{subset}}/{target}.json", target=TARGETS),
            log=expand("results/finetune/{{arch}}/{{subset}}/{target}.log.tsv", target=TARGETS),
        params:
            targets=list(TARGETS),
            settings=config["finetune"],
            seed=config["seed"],
        threads: config["compute"]["threads"]
        resources:
            runtime=table_runtime(3.0),
            mem_mb=table_mem,
        log:
            "logs/finetune/{arch}/{subset}.log",
        benchmark:
            "results/benchmarks/finetune/{arch}/{subset}.tsv"
        conda:
            "../../envs/basesel.yaml"
        script:
            "../scripts/finetune_head.py"

else:

    rule finetune_full:
        input:
            model="results/pretrain/{arch}/{subset}/model.pt",
            index="results/data/index/{target}.tsv",
            code=lib("finetune", "training", "models", "data"),
        output:
            result="results/finetune/{arch}/{subset}/{target}.json",
            log="results/finetune/{arch}/{subset}/{target}.log.tsv",
        params:
            settings=config["finetune"],
            seed=config["seed"],
            resume="results/finetune/{arch}/{subset}/{target}.resume.pt",
        threads: config["compute"]["threads"]
        resources:
            gpu=GPU,
            runtime=finetune_full_runtime,
            mem_mb=TRAIN_MEM,
        log:
            "logs/finetune/{arch}/{subset}/{target}.log",
        benchmark:
            "results/benchmarks/finetune/{arch}/{subset}/{target}.tsv"
        conda:
            "../../envs/basesel.yaml"
        script:
            "../scripts/finetune_full.py"
