"""What the field's published tables already say (data/published/): their analysis, for the report."""
from pathlib import Path

from basesel.machinery.glue import run


def main(smk):
    from basesel.io import write_tables
    from basesel.science.published import benchmarks

    tables = benchmarks(Path(smk.input.tllib).parent, n_boot=smk.params.bootstrap, seed=smk.params.seed)
    out = Path(smk.output.tllib_leaderboard).parents[1]
    for name, table in tables.items():
        write_tables({Path(name).name: table}, out / Path(name).parent)


run(snakemake, main)
