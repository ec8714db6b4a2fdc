"""Small file helpers: every artifact is written under a temporary name and renamed when complete."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import pandas as pd


class BaseselError(Exception):
    """A problem with the user's input, reported without a traceback by the CLI and the scripts."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_tsv(df: pd.DataFrame, path, **kwargs) -> None:
    with atomic_path(path, ".tsv") as tmp:
        df.to_csv(tmp, sep="\t", index=False, **kwargs)


def read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t")


def write_json(obj, path) -> None:
    with atomic_path(path, ".json") as tmp:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, allow_nan=True)
            fh.write("\n")


def read_json(path):
    with open(path) as fh:
        return json.load(fh)
