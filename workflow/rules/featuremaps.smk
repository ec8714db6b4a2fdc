# Featuremaps: one HDF5 per (base model, target); one job per base model writes all its targets
# (a job is mostly start-up at the embedded scale, so one per target would triple the wall time).


rule featuremaps:
    input:
        model="results/pretrain/{arch}/{subset}/model.pt",
        indexes=target_indexes,
        code=lib("models", "featuremaps", "data"),
    output:
        expand("results/featuremaps/{{arch}}/{{subset}}/{target}.h5", target=TARGETS),
    params:
        targets=list(TARGETS),
        settings=config["featuremaps"],
        seed=config["seed"],
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=featuremaps_runtime,
        mem_mb=TRAIN_MEM,
    log:
        "logs/featuremaps/{arch}/{subset}.log",
    benchmark:
        "results/benchmarks/featuremaps/{arch}/{subset}.tsv"
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/featuremaps.py"
