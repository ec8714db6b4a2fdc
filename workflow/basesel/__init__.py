"""basesel: base model selection for efficient fine-tuning (the seed paper's methodology as a workflow).

Subpackages by role:
    science     what is computed from arrays and tables: S1..S6, the later literature's baselines
                (transfer/), statistics, the analysis, Figure 1 / A.2 aggregates, costs (no torch)
    data        datasets on disk: folders and their indexes, subsets and probe sets, image decoding,
                the embedded datasets, torchvision's layouts
    models      base models: the paper's architecture registry and builders, the zoo (torchvision,
                timm, snapshot folders), and the one tap that reads a model's layers in a forward pass
    compute     torch jobs: schedules, training, pretraining, the workflow's forward passes,
                fine-tuning, Figure 1 and Appendix A.2
    machinery   how the workflow runs, never what it computes: the config's plan, script glue, code
                digests, warm start, cluster resources and SLURM check, lock recovery, progress.
                Outside every rule's code digest: editing it reruns nothing.
Top level: `io` (artifact files), `plots` (figures), `rank` and `cli` (the `basesel` command).
"""
import os

# Shared cluster filesystems (NFS, Lustre) often lack the POSIX locks HDF5 takes by default; every
# file here is written once by one job (to a temporary name, then renamed), so locks buy nothing.
# Must be set before h5py is imported; every h5py.File call also passes locking=False.
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

__version__ = "0.1.0"


class BaseselError(Exception):
    """A problem with the user's input, reported without a traceback by the CLI and the scripts.

    Here, in the package's __init__ that every module's code digest holds anyway, so that raising
    it adds no file to any digest."""
