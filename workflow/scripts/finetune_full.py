"""Fine-tune the whole network of one base model on one target's images."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # the library, installed or not
from basesel.smk import run  # noqa: E402


def main(smk):
    from basesel.finetune import finetune_full
    from basesel.io import read_tsv, write_json
    from basesel.models import load_checkpoint
    from basesel.schedule import Schedule
    from basesel.training import clear_resume, job_compute

    device, workers, budget = job_compute(smk.config["compute"], smk.threads)
    model, spec, _ = load_checkpoint(smk.input.model)
    label = f"finetune {smk.wildcards.arch}/{smk.wildcards.subset} -> {smk.wildcards.target}"
    result = finetune_full(model, spec.arch, read_tsv(smk.input.index), Schedule(**smk.params.schedule),
                           input_size=spec.input_size, seed=smk.params.seed, resume_path=smk.params.resume,
                           log_path=smk.output.epochs, device=device, label=label,
                           preload_max_mb=budget, workers=workers)
    write_json(result, smk.output.result)
    clear_resume(smk.params.resume)


run(snakemake, main, torch=True)
