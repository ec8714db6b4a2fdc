# The models users already have (config `zoo`): one job per model checks it before any pass reads it
# (architecture, weights loaded exactly and without pickle, preprocessing, an input through it) and
# writes what it found to results/zoo/NAME.json, the file the model's passes read it from. The zoo
# demo's weights (config `demo_weights`, configs/zoo.yaml) are made here, on the embedded source
# pool, and written as downloads are; the zoo then reads them like any user's.


rule zoo_model:
    input:
        source=zoo_source,
    output:
        "results/zoo/{model}.json",
    log:
        "logs/zoo/{model}.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("zoo_model.py"),
        entry=zoo_entry,
    script:
        "../scripts/zoo_model.py"


# A weights file (safetensors or a state dict) or a snapshot folder: one rule each, as a folder
# output cannot share a rule with file outputs.
for demo_rule, demo_names, demo_stem, demo_output in (
    ("demo_weights", DEMO_FILES, "{demo}.{suffix}", "results/zoo-demo/{demo}.{suffix}"),
    ("demo_snapshot", DEMO_SNAPSHOTS, "{demo}", directory("results/zoo-demo/{demo}")),
):

    rule:
        name:
            demo_rule
        input:
            index="results/data/index/source.tsv",
        output:
            weights=demo_output,
            epochs=f"results/zoo-demo/{demo_stem}.epochs.tsv",
        log:
            f"logs/zoo-demo/{demo_stem}.log",
        benchmark:
            f"results/benchmarks/zoo-demo/{demo_stem}.tsv"
        wildcard_constraints:
            demo=one_of(demo_names),
            suffix="safetensors|pth",
        conda:
            "../../envs/basesel.yaml"
        threads: config["compute"]["threads"]
        resources:
            gpu=GPU,
            mem_mb=TRAIN_MEM,
        params:
            code=code("demo_weights.py"),
            spec=demo_spec,
            input_size=DEMO_INPUT_SIZE,
            seed=config["seed"],
        script:
            "../scripts/demo_weights.py"
