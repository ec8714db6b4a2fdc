"""Every score of one (base model, target) pair on its probe images: S1..S6 of the featuremap file,
and the baselines on the same images' penultimate features (NAME@probe)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    import time

    import h5py

    from basesel.io import write_json
    from basesel.scores import scores_from_h5
    from basesel.transfer import AGNOSTIC, PROBE_SUFFIX, baseline_scores

    start = time.perf_counter()
    result = scores_from_h5(smk.input.h5, margin=smk.params.s6_margin, batch_size=smk.config["scores"]["batch_size"])
    seconds = {"S1..S6": time.perf_counter() - start}
    with h5py.File(smk.input.h5, "r", locking=False) as f:
        rows, seconds["pass"] = f["probe_index"][:], float(f.attrs["seconds"])
    # the task-agnostic baselines are properties of the model: no image budget to equalise
    probe = baseline_scores(smk.input.features, [n for n in smk.params.baselines if n not in AGNOSTIC], rows=rows)
    seconds.update({f"{k}{PROBE_SUFFIX}": v for k, v in probe.pop("seconds").items()})
    result.update({f"{k}{PROBE_SUFFIX}": v for k, v in probe.items()})
    write_json({**result, "seconds": seconds}, smk.output[0])
    print(result, file=sys.stderr)


run(snakemake, main)
