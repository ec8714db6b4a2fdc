"""Small file helpers: every artifact is written under a temporary name and renamed when complete.

pandas is imported where a table is read or written, not here: the scripts of small jobs import
this module first, and most of them never touch a table.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The file gets the permissions a plain open() would give it (0666 less the umask): mkstemp
    creates 0600, which would hide results from colleagues on a shared project folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A job killed outright (kill -9, out of memory) leaves its temporary file; the rerun of the job
    # (its output is missing, so it reruns) clears it before it starts writing its own.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_tsv(df, path, **kwargs) -> None:
    with atomic_path(path, ".tsv") as tmp:
        df.to_csv(tmp, sep="\t", index=False, **kwargs)


def read_tsv(path):
    import pandas as pd

    return pd.read_csv(path, sep="\t")


def write_json(obj, path) -> None:
    with atomic_path(path, ".json") as tmp:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, allow_nan=True)
            fh.write("\n")


def json_safe(d: dict) -> dict:
    """JSON has no infinity: S3 is +inf when intra-class scatter is 0; say so as a string."""
    import math

    return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in d.items()}


def read_json(path):
    with open(path) as fh:
        return json.load(fh)


# How floats are written to result tables: 6 significant digits.
FLOAT_FORMAT = "%.6g"


def write_tables(tables: dict, outdir, float_format: str = FLOAT_FORMAT, exact=()) -> None:
    """Write named tables (file name -> DataFrame, or a JSON-ready dict for .json names) to
    `outdir`; floats at `float_format`, except in the tables named in `exact`."""
    for name, table in tables.items():
        if name.endswith(".json"):
            write_json(table, Path(outdir) / name)
        elif name in exact:
            write_tsv(table, Path(outdir) / name)
        else:
            write_tsv(table, Path(outdir) / name, float_format=float_format)
