# Fine-tuning, the ground truth, one (base model, target) pair per job: replace the last FC layer and
# train it on the cached penultimate features (mode head, the paper's protocol), or train the whole
# network on images (mode full). Only the rule of the configured mode exists.

if config["finetune"]["mode"] == "head":

    rule finetune_head:
        input:
            h5="results/{rep}features/{arch}/{subset}/{target}.h5",
        output:
            result="results/{rep}finetune/{arch}/{subset}/{target}.json",
            epochs="results/{rep}finetune/{arch}/{subset}/{target}.epochs.tsv",
        log:
            "logs/{rep}finetune/{arch}/{subset}/{target}.log",
        benchmark:
            "results/{rep}benchmarks/finetune/{arch}/{subset}/{target}.tsv"
        conda:
            "../../envs/basesel.yaml"
        threads: config["compute"]["threads"]
        resources:
            runtime=size_runtime(3.0),
            mem_mb=size_mem,
        params:
            code=code("finetune_head.py"),
            schedule=PLAN.finetune_schedule,
            seed=replicate_seed_of,
            resume="results/{rep}finetune/{arch}/{subset}/{target}.resume.pt",
        script:
            "../scripts/finetune_head.py"

else:

    rule finetune_full:
        input:
            model=base_model,
            index="results/data/index/{target}.tsv",
            decoded=decoded_images(),
        output:
            result="results/{rep}finetune/{arch}/{subset}/{target}.json",
            epochs="results/{rep}finetune/{arch}/{subset}/{target}.epochs.tsv",
        log:
            "logs/{rep}finetune/{arch}/{subset}/{target}.log",
        benchmark:
            "results/{rep}benchmarks/finetune/{arch}/{subset}/{target}.tsv"
        conda:
            "../../envs/basesel.yaml"
        threads: config["compute"]["threads"]
        resources:
            gpu=GPU,
            runtime=finetune_full_runtime,
            mem_mb=TRAIN_MEM,
        params:
            code=code("finetune_full.py"),
            schedule=PLAN.finetune_schedule,
            seed=replicate_seed_of,
            resume="results/{rep}finetune/{arch}/{subset}/{target}.resume.pt",
        script:
            "../scripts/finetune_full.py"
