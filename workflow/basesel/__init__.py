"""basesel: base model selection for efficient fine-tuning (the seed paper's methodology as a workflow)."""
import os

# Shared cluster filesystems (NFS, Lustre) often lack the POSIX locks HDF5 takes by default; every
# file here is written once by one job (to a temporary name, then renamed), so locks buy nothing.
# Must be set before h5py is imported; every h5py.File call also passes locking=False.
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

__version__ = "0.1.0"
