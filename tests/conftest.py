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
    import tempfile

    from helpers import TINY, smk

    def warm_folders():  # the warm-start server's private folders (basesel/machinery/warm.py)
        return set(Path(tempfile.gettempdir()).glob("basesel-warm-*")) | set(
            Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent")).glob("basesel-warm-*"))

    before = warm_folders()
    workdir = tmp_path_factory.mktemp("tiny")
    smk(workdir, config=TINY)
    smk(workdir, "--report", "results/report.html", config=TINY)
    assert warm_folders() <= before, "the warm server's folder outlived the run"
    return workdir
