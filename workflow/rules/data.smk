# Datasets: generate the embedded default, index and validate every dataset, cut source subsets.


rule embedded_dataset:
    output:
        directory("results/data/embedded/{dataset}"),
    params:
        spec=embedded_spec,
        seed=config["seed"],
    input:
        lib("synthetic"),
    log:
        "logs/data/embedded_{dataset}.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/embedded_dataset.py"


rule index_dataset:
    input:
        root=dataset_input,
        code=lib("data", "tvdatasets"),
    output:
        "results/data/index/{dataset}.tsv",
    params:
        splits=dataset_splits,
        min_train=min_train_images,
        torchvision=lambda wc: PLAN.torchvision.get(wc.dataset, ""),
        seed=config["seed"],
    threads: config["compute"]["threads"]
    resources:
        runtime=index_runtime,
    log:
        "logs/data/index_{dataset}.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/index_dataset.py"


rule subsets:
    input:
        index="results/data/index/source.tsv",
        code=lib("data"),
    output:
        expand("results/subsets/{subset}.tsv", subset=SUBSETS),
    params:
        names=SUBSETS,
        seed=config["seed"],
    log:
        "logs/data/subsets.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/subsets.py"
