# Datasets: generate the embedded default, index and validate every dataset, cut each source subset
# (one job each: a new subset size adds jobs, it reruns none), draw each target's probe set, decode each
# dataset's images once at each input size the architectures take.


rule embedded_dataset:
    output:
        directory("results/data/embedded/{dataset}"),
    log:
        "logs/data/embedded_{dataset}.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("embedded_dataset.py"),
        spec=embedded_spec,
        seed=config["seed"],
    script:
        "../scripts/embedded_dataset.py"


rule index_dataset:
    input:
        root=dataset_input,
    output:
        "results/data/index/{dataset}.tsv",
    log:
        "logs/data/index_{dataset}.log",
    wildcard_constraints:
        dataset=one_of(INDEXED),
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        runtime=index_runtime,
    params:
        code=code("index_dataset.py"),
        splits=dataset_splits,
        torchvision=torchvision_dataset,
        seed=config["seed"],
    script:
        "../scripts/index_dataset.py"


# A target of the field's benchmarks (a torchvision layout read by a benchmark's split rule,
# data/benchmarks.py); CIFAR's pickled arrays are written as PNG files once before.
rule index_benchmark:
    input:
        root=dataset_input,
    output:
        "results/data/index/{dataset}.tsv",
    log:
        "logs/data/index_{dataset}.log",
    wildcard_constraints:
        dataset=one_of(BENCHMARK_TARGETS),
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        runtime=index_runtime,
    params:
        code=code("index_benchmark.py"),
        benchmark=benchmark_spec,
        seed=config["seed"],
    script:
        "../scripts/index_benchmark.py"


rule unpack_arrays:
    input:
        root=unpack_source,
    output:
        directory("results/data/unpacked/{dataset}"),
    log:
        "logs/data/unpack_{dataset}.log",
    wildcard_constraints:
        dataset=one_of(ARRAY_TARGETS),
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("unpack_arrays.py"),
        dataset=benchmark_dataset,
    script:
        "../scripts/unpack_arrays.py"


rule subset:
    input:
        index="results/data/index/source.tsv",
    output:
        "results/subsets/{subset}.tsv",
    log:
        "logs/data/subset_{subset}.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("subset.py"),
        seed=config["seed"],
    script:
        "../scripts/subset.py"


# The probe set of a target: featuremaps.probe_per_class training images per class, seeded. A class
# with fewer images is named here, before any featuremap is computed.
rule probe:
    input:
        index="results/data/index/{target}.tsv",
    output:
        "results/{rep}probes/{target}.tsv",
    log:
        "logs/{rep}data/probe_{target}.log",
    conda:
        "../../envs/basesel.yaml"
    params:
        code=code("probe.py"),
        probe_per_class=config["featuremaps"]["probe_per_class"],
        seed=replicate_seed_of,
    script:
        "../scripts/probe.py"


# Every image of a dataset decoded once at one input size (the paper's square resize): the pretraining
# on each subset, every features and featuremaps pass read their images from it instead of decoding
# them again. A dataset over compute.preload_max_mb decoded is written without pixels (its jobs decode
# as they go); the pixels are those each job would decode, so the file changes no result.
rule decode_images:
    input:
        index="results/data/index/{dataset}.tsv",
    output:
        "results/data/decoded/{dataset}/{size}px.h5",
    log:
        "logs/data/decode_{dataset}_{size}px.log",
    conda:
        "../../envs/basesel.yaml"
    threads: config["compute"]["threads"]
    resources:
        runtime=decode_runtime,
        mem_mb=TRAIN_MEM,
    params:
        code=code("decode_images.py"),
    script:
        "../scripts/decode_images.py"
