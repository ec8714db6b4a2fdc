"""Generate one embedded dataset (source pool or target task) in ImageFolder layout."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel import synthetic

    spec, seed, out = dict(smk.params.spec), smk.params.seed, smk.output[0]
    if spec.pop("role") == "source":
        synthetic.generate_source(out, seed=seed, num_classes=spec["classes"], train_per_class=spec["train_per_class"],
                                  val_per_class=spec["val_per_class"], size=spec["image_size"])
    else:
        synthetic.generate_target(out, kind=spec["kind"], seed=seed, num_classes=spec["classes"],
                                  train_per_class=spec["train_per_class"], test_per_class=spec["test_per_class"],
                                  size=spec["image_size"])
    print(f"wrote {out}", file=sys.stderr)


run(snakemake, main)
