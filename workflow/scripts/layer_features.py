"""GAP features of every conv layer and their S1..S6 on the probe set, for every target (Appendix A.2)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402

from basesel.io import read_tsv  # noqa: E402
from basesel.layers import extract_layers  # noqa: E402
from basesel.models import load_checkpoint  # noqa: E402
from basesel.training import loader_workers, pick_device  # noqa: E402


def main(smk):
    compute = smk.config["compute"]
    device = pick_device(compute["device"])
    model, spec, _ = load_checkpoint(smk.input.model)
    for target, index_path, out in zip(smk.params.targets, smk.input.indexes, smk.output):
        print(f"[layers] {smk.wildcards.arch} (whole pool) -> {target}", file=sys.stderr)
        table = extract_layers(model, spec, read_tsv(index_path), out, probe_per_class=smk.params.probe_per_class,
                               probe_seed=smk.params.seed, batch_size=smk.config["featuremaps"]["batch_size"],
                               device=device, margin=smk.params.s6_margin, preload_max_mb=compute["preload_max_mb"],
                               workers=loader_workers(device, smk.threads),
                               attrs={"target": target, "checkpoint": smk.input.model})
        print(table.to_string(index=False), file=sys.stderr)


run(snakemake, main)
