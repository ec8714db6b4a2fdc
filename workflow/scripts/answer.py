"""The report's front page answer (reStructuredText) from the analysis tables."""
from pathlib import Path

from basesel.machinery.glue import run


def main(smk):
    from basesel.io import atomic_path, read_json, read_tsv
    from basesel.science.answer import front_page

    text = front_page(read_tsv(smk.input.leaderboard), read_tsv(smk.input.picks), read_json(smk.input.summary))
    with atomic_path(smk.output[0]) as tmp:
        Path(tmp).write_text(text)


run(snakemake, main)
