"""Generate one embedded dataset (source pool or target task) in ImageFolder layout."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.data import synthetic

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
