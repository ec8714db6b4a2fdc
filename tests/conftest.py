import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))  # the library, installed or not
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


@pytest.fixture(scope="session")
def root():
    return ROOT
