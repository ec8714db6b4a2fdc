# Forward passes of every base model (pretrained here, or from the zoo: common.base_model) over
# every target, one (base model, target) pair per file:
# the features file (penultimate features and source softmax of the target's train and test
# images: depends on the model and the images) apart from the featuremap file (the probed layer on
# the probe images: depends on the probe set too), so that a new probe set reruns the cheap pass only.


rule features:
    input:
        model=base_model,
        index="results/data/index/{target}.tsv",
        decoded=decoded_images(),
    output:
        "results/{rep}features/{arch}/{subset}/{target}.h5",
    log:
        "logs/{rep}features/{arch}/{subset}/{target}.log",
    benchmark:
        "results/{rep}benchmarks/features/{arch}/{subset}/{target}.tsv"
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=target_pass_runtime,
        mem_mb=TRAIN_MEM,
    params:
        code=code("features.py"),
    script:
        "../scripts/features.py"


rule featuremaps:
    input:
        model=base_model,
        probe="results/{rep}probes/{target}.tsv",
        decoded=decoded_images(),
    output:
        "results/{rep}featuremaps/{arch}/{subset}/{target}.h5",
    log:
        "logs/{rep}featuremaps/{arch}/{subset}/{target}.log",
    benchmark:
        "results/{rep}benchmarks/featuremaps/{arch}/{subset}/{target}.tsv"
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        gpu=GPU,
        runtime=probe_pass_runtime,
        mem_mb=TRAIN_MEM,
    params:
        code=code("featuremaps.py"),
    script:
        "../scripts/featuremaps.py"
