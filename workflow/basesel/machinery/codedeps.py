"""The library files a workflow script depends on: the import closure of the script, read from its
source (every `import` statement, at module level or inside a function). Each rule passes the digest
of its script's closure as its `code` parameter, so that editing a module reruns exactly the rules
whose scripts can reach it (Snakemake reruns a job whose parameters changed), and nothing else.

A digest rather than the files as inputs: at the paper's scale, ~30 code files on each of ~5,700
jobs are 170,000 more input files for Snakemake to resolve and print, which doubled the time of
planning a run; and a digest reruns nothing when a file is touched without being changed.

Static, not run: a script's imports are found without importing anything (the Snakefile calls this
when it is parsed). A module is a `basesel` module; imports of other packages are ignored, and a
package's `__init__.py` is part of the closure of every module in it, as Python executes it first.

The machinery package (`basesel.machinery`: this module, the script glue, the warm server, the
cluster cost model, the SLURM check, the plan, progress lines) is left out of every closure: it
changes how jobs run, never what they compute, so editing it reruns nothing, by construction.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = "basesel"
MACHINERY = f"{PACKAGE}.machinery"


def _module_file(lib: Path, module: str) -> Path | None:
    """The file of `basesel.x.y` under `lib` (the folder holding the basesel package)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = lib.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _module_name(lib: Path, path: Path) -> str | None:
    rel = path.resolve().relative_to(lib.resolve()).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if parts and parts[0] == PACKAGE else None


@lru_cache(maxsize=None)  # each file parsed once per process, not once per script that reaches it
def _imported(lib: Path, path: Path) -> frozenset[str]:
    """Names of the basesel modules one file imports (with `from X import y`, y too where it is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(lib, path)
    package = (here if path.name == "__init__.py" else here.rpartition(".")[0]) if here else None
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return frozenset(m for m in found if m.split(".")[0] == PACKAGE and not _is_machinery(m))


def _is_machinery(module: str) -> bool:
    return module == MACHINERY or module.startswith(MACHINERY + ".")


@lru_cache(maxsize=None)
def _closure(lib: str, script: str) -> tuple[str, ...]:
    lib_path = Path(lib)
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        path = todo.pop()
        for module in _imported(lib_path, path):
            parts = module.split(".")
            # the module's file and the __init__.py of every package above it
            for k in range(1, len(parts) + 1):
                f = _module_file(lib_path, ".".join(parts[:k]))
                if f is not None and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return tuple(sorted(str(p) for p in seen))


def closure(script, lib) -> list[str]:
    """Sorted paths of the basesel files `script` imports, directly or through other basesel modules.

    `lib` is the folder that holds the `basesel` package (workflow/ in this repository).
    """
    return list(_closure(str(Path(lib).resolve()), str(Path(script).resolve())))


@lru_cache(maxsize=None)
def _digest(lib: str, script: str, stamps: tuple) -> str:
    import hashlib

    h = hashlib.sha256()
    for path in _closure(lib, script):
        h.update(Path(path).relative_to(lib).as_posix().encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def digest(script, lib) -> str:
    """A digest of the contents of `script`'s closure (its files' paths under `lib` and their bytes)."""
    lib, script = str(Path(lib).resolve()), str(Path(script).resolve())
    stamps = tuple(Path(p).stat().st_mtime_ns for p in _closure(lib, script))
    return _digest(lib, script, stamps)
