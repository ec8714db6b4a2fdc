"""A rule's code parameter is the digest of its script's import closure: the closure checked on a
hand-built package and against the standard library's modulefinder for every workflow script; the
digest on what the rules pass and on what an edit changes."""
from modulefinder import ModuleFinder
from pathlib import Path

import pytest

from basesel.machinery.codedeps import closure, digest
from helpers import ROOT, planned_jobs

LIB = ROOT / "workflow"
SCRIPTS = sorted((LIB / "scripts").glob("*.py"))


def test_closure_of_a_hand_built_package(tmp_path):
    pkg = tmp_path / "basesel"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "import os\n",
        "a.py": "from . import b\nfrom .sub import c\n",
        "b.py": "import numpy\n",
        "sub/__init__.py": "",
        "sub/c.py": "def f():\n    from ..d import g  # inside a function: still a dependency\n",
        "d.py": "g = 1\n",
        "unused.py": "from . import a\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    script = tmp_path / "script.py"
    script.write_text("import sys\nfrom basesel.a import x\n")
    got = {Path(p).relative_to(pkg).as_posix() for p in closure(script, tmp_path)}
    assert got == {"__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py", "d.py"}


class BaseselFinder(ModuleFinder):
    """The standard library's import scanner, kept inside basesel and outside its machinery package
    (the rest of the world is skipped; so is what only the machinery imports)."""

    def import_hook(self, name, caller=None, fromlist=None, level=-1):
        if level > 0:
            parent = self.determine_parent(caller, level=level).__name__
            full = f"{parent}.{name}" if name else parent
        else:
            full = name
        if full.split(".")[0] != "basesel" or full == "basesel.machinery" or full.startswith("basesel.machinery."):
            return None
        return super().import_hook(name, caller, fromlist, level)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_closure_agrees_with_modulefinder(script):
    finder = BaseselFinder(path=[str(LIB)])
    finder.run_script(str(script))
    found = {Path(m.__file__).resolve().as_posix() for name, m in finder.modules.items()
             if name.split(".")[0] == "basesel" and m.__file__}
    assert found == {Path(p).as_posix() for p in closure(script, LIB)}


def test_plots_depend_on_plotting_code_only():
    names = {Path(p).relative_to(LIB / "basesel").as_posix() for p in closure(LIB / "scripts" / "plot.py", LIB)}
    assert names == {"__init__.py", "io.py", "plots.py", "science/__init__.py", "science/featuremap_scores.py",
                     "science/experiments.py", "science/stats.py", "science/costs.py"}


def test_machinery_is_in_no_scripts_closure():
    """The machinery package (script glue, warm server, digests, cost model, SLURM check, plan) changes
    how jobs run, not what they compute: no closure holds it, so editing it reruns nothing. Every
    script imports it (the glue), so the rule is the digest's, not a coincidence of imports."""
    machinery = {p.resolve() for p in (LIB / "basesel" / "machinery").glob("*.py")}
    assert len(machinery) >= 8
    for script in SCRIPTS:
        assert "basesel.machinery.glue" in script.read_text(), script.name
        assert not machinery & {Path(p).resolve() for p in closure(script, LIB)}, script.name


def test_every_rule_passes_its_closures_digest(tmp_path):
    """Each job's `code` parameter is its script's closure digest (read from the DAG of the tiny config)."""
    from helpers import TINY

    plan = planned_jobs(tmp_path, TINY)
    checked = set()
    for rule, script, code in plan.code:
        if script is None:
            continue
        assert code == digest(Path(script), LIB), rule
        checked.add(Path(script).name)
    # the tiny config fine-tunes in head mode, has no zoo (test_zoo.py plans the zoo's rules), one
    # replicate (test_replicates.py runs two) and no benchmark target (test_benchmarks.py plans those)
    assert checked == {p.name for p in SCRIPTS} - {"finetune_full.py", "zoo_model.py", "demo_weights.py",
                                                   "replicates.py", "index_benchmark.py", "unpack_arrays.py"}


def test_digest_changes_with_the_closure_only(tmp_path):
    import shutil

    lib = tmp_path / "workflow"
    shutil.copytree(LIB / "basesel", lib / "basesel", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(LIB / "scripts", lib / "scripts")
    plots, scores = lib / "scripts" / "plot.py", lib / "scripts" / "scores.py"
    before = digest(plots, lib), digest(scores, lib)
    models = lib / "basesel" / "models" / "paper.py"  # outside the plots' closure
    models.write_text(models.read_text() + "\n# edited\n")
    assert (digest(plots, lib), digest(scores, lib)) == before
    module = lib / "basesel" / "plots.py"
    module.write_text(module.read_text() + "\n# edited\n")
    assert digest(plots, lib) != before[0] and digest(scores, lib) == before[1]
