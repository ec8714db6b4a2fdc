# Scores: S1..S6 of one featuremap file, streamed batch by batch, and the selected baselines
# (LEEP, NCE, H-score, LogME, NLEEP, GBC, TransRate, SFDA, source accuracy and size) in the same job.


rule scores:
    input:
        h5="results/featuremaps/{arch}/{subset}/{target}.h5",
        code=lib("scores", *TRANSFER_MODULES),
    output:
        "results/scores/{arch}/{subset}/{target}.json",
    params:
        settings=config["scores"],
    resources:
        runtime=table_runtime(3.0),
        mem_mb=table_mem,
    log:
        "logs/scores/{arch}/{subset}/{target}.log",
    conda:
        "../../envs/basesel.yaml"
    script:
        "../scripts/scores.py"
