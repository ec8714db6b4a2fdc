"""Decode every image of one dataset once, at one input size: the file the jobs reading them share."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.data.images import write_decoded
    from basesel.io import read_tsv

    index = read_tsv(smk.input.index)
    size = int(smk.wildcards.size)
    workers = int(smk.threads) if int(smk.threads) > 1 else 0  # decoding processes, on a node with CPUs to spare
    holds = write_decoded(index.path.tolist(), size, smk.output[0], smk.config["compute"]["preload_max_mb"], workers)
    print(f"{smk.wildcards.dataset}: {len(index)} images at {size} px, "
          + ("decoded" if holds else "over compute.preload_max_mb: written without pixels, its jobs decode them"),
          file=sys.stderr)


run(snakemake, main, torch_threads=True)
