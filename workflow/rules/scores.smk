# Scores of every (base model, target) pair, in two files so that a probe set reruns only the first:
# everything computed on the probe images (S1..S6 of the featuremaps, streamed batch by batch, and
# the baselines of the later literature on the same images' penultimate features, NAME@probe: the
# image budget of S1..S6); the baselines on the whole training split.


rule scores:
    input:
        h5="results/{rep}featuremaps/{arch}/{subset}/{target}.h5",
        features="results/{rep}features/{arch}/{subset}/{target}.h5",
    output:
        "results/{rep}scores/{arch}/{subset}/{target}.json",
    log:
        "logs/{rep}scores/{arch}/{subset}/{target}.log",
    conda:
        "../../envs/basesel.yaml"
    resources:
        runtime=size_runtime(3.0),
        mem_mb=size_mem,
    params:
        code=code("scores.py"),
        s6_margin=config["scores"]["s6_margin"],
        baselines=config["scores"]["baselines"],
        options=SCORE_OPTIONS,
    script:
        "../scripts/scores.py"


rule baselines:
    input:
        h5="results/{rep}features/{arch}/{subset}/{target}.h5",
    output:
        "results/{rep}baselines/{arch}/{subset}/{target}.json",
    log:
        "logs/{rep}baselines/{arch}/{subset}/{target}.log",
    conda:
        "../../envs/basesel.yaml"
    resources:
        runtime=baselines_runtime,
        mem_mb=baselines_mem,
    params:
        code=code("baselines.py"),
        names=config["scores"]["baselines"],
        options=SCORE_OPTIONS,
    script:
        "../scripts/baselines.py"
