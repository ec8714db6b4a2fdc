"""Write a dataset held as pickled arrays (CIFAR-10/100 in torchvision's layout) as PNG files, once,
read with an unpickler that admits numpy arrays and nothing else."""
import sys

from basesel.machinery.glue import run


def main(smk):
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from basesel.data.benchmarks import unpack_cifar
    from basesel.io import _umask

    out = Path(smk.output[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))  # renamed when complete
    try:
        counts = unpack_cifar(smk.params.dataset, smk.input.root, tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"{smk.params.dataset} from {smk.input.root}: {counts} images written to {out}", file=sys.stderr)


run(snakemake, main)
