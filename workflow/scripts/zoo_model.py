"""Check one zoo model before any pass reads it: its architecture and weights (loaded without pickle,
exactly), its preprocessing, an input through it; write what was found (results/zoo/NAME.json)."""
import sys

from basesel.machinery.glue import run


def main(smk):
    from basesel.io import write_json
    from basesel.models.zoo import model_card

    card = model_card(smk.params.entry)
    write_json(card, smk.output[0])
    print(f"{smk.wildcards.model}: {card['arch']}, layer {card['layer']} {card['featuremap_shape']}, "
          f"{card['parameters']:,} parameters, input {card['preprocess']}", file=sys.stderr)


run(snakemake, main, torch_threads=True)
