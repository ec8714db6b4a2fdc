import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))  # the library, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))  # helpers, fake_datasets, slurm_cluster
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny config run locally once, with its report: every end-to-end test reads this run (the
    SLURM test compares its own outputs with it); a test that changes files works on a copy."""
    from helpers import TINY, smk

    workdir = tmp_path_factory.mktemp("tiny")
    smk(workdir, config=TINY)
    smk(workdir, "--report", "results/report.html", config=TINY)
    return workdir
