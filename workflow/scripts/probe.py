"""Draw a target's probe set: probe_per_class training images per class, seeded."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel.data import probe_table
    from basesel.io import read_tsv, write_tsv

    probe = probe_table(read_tsv(smk.input.index), smk.params.probe_per_class, smk.params.seed)
    write_tsv(probe, smk.output[0])
    print(f"{smk.wildcards.target}: {len(probe)} probe images, {probe['class'].nunique()} classes", file=sys.stderr)


run(snakemake, main)
