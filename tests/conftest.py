import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))  # the library, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))  # helpers, fake_datasets, slurm_cluster
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


# `make test` spreads the test files over processes (pytest-xdist, --dist loadfile): a file's tests
# run in one process, with its module fixtures; the files that read the session's tiny run share a
# process, so that it runs once; and the long files (minutes each, most of it in Snakemake runs) go
# first, in an order that gives two processes about as much (pytest-xdist hands a process the next
# file when it is down to its last two tests): the rerun table's plans and the tiny run's files at
# once, then the SLURM test beside the short files.
SAME_PROCESS = {name: "tiny_run" for name in ("test_recovery.py", "test_workflow.py", "test_replicates.py")}
LONG_FILES_FIRST = ["test_reruns.py", "test_recovery.py", "test_workflow.py", "test_replicates.py",
                 "test_zoo.py", "test_warm.py", "test_slurm.py"]


def pytest_collection_modifyitems(items):
    first = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: a file's order kept


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, with SAME_PROCESS's files one unit of work. (Not xdist_group marks: pytest
    9 ignores the node ids that pytest-xdist 3.8 rewrites for them.)"""
    if config.getvalue("dist") != "loadfile":
        return None  # pytest-xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            file = nodeid.split("::", 1)[0]
            return SAME_PROCESS.get(Path(file).name, file)

    return ByFile(config, log)


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny config run locally once, with its report, read by the end-to-end tests of
    SAME_PROCESS's files; a test that changes files works on a copy."""
    from helpers import TINY, smk

    # The warm-start server's private folder goes under a temporary folder of this run's own (no
    # $XDG_RUNTIME_DIR), so that the check below sees only this run's, whatever else runs at the
    # same time (make test runs test files in parallel).
    tmp = tmp_path_factory.mktemp("tiny-tmp")
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"} | {"TMPDIR": str(tmp)}
    workdir = tmp_path_factory.mktemp("tiny")
    smk(workdir, config=TINY, env=env)
    smk(workdir, "--report", "results/report.html", config=TINY, env=env)
    assert not list(tmp.glob("basesel-warm-*")), "the warm server's folder outlived the run"
    return workdir
