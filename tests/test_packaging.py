"""A built wheel holds every module of the library, and each imports from it; the conda environment
pins what pyproject.toml pins and installs from wherever Snakemake copies it."""
import subprocess
import sys
import tomllib
import zipfile

import yaml

from helpers import ROOT


def test_wheel_holds_and_imports_every_module(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                          "--wheel-dir", str(tmp_path / "dist"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "dist").glob("basesel-*.whl")
    modules = sorted(p.relative_to(ROOT / "workflow").with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
                     for p in (ROOT / "workflow" / "basesel").rglob("*.py"))
    names = zipfile.ZipFile(wheel).namelist()
    for module in modules:
        path = module.replace(".", "/")
        assert f"{path}.py" in names or f"{path}/__init__.py" in names, module
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # only the wheel on the path (not the checkout): every module imports; `basesel scores` runs
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules if m != "basesel.machinery.warm")
    code += "from basesel import cli\nfrom basesel.machinery import warm\nassert cli.__file__.startswith(sys.argv[1]), cli.__file__\n"
    out = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def conda_pip_requirements() -> list[str]:
    env = yaml.safe_load((ROOT / "envs" / "basesel.yaml").read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return pip


def test_conda_environment_pins_what_pyproject_pins():
    """The conda route installs the same pinned dependencies as pip's (so a changed pin changes the
    file, and with it the environment's hash), and no path: Snakemake copies the file elsewhere."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(conda_pip_requirements()) == sorted(project)
    assert not [r for r in conda_pip_requirements() if r.startswith(("-", ".", "/")) or "/" in r]


def test_conda_environment_installs_from_where_snakemake_copies_it(tmp_path):
    """What conda does with the file's pip section, in the folder Snakemake copies the file to
    (.snakemake/conda/<hash>.yaml): a requirements file beside it, `pip install -r` run from there.
    A dry run against this environment (which holds every pin), so nothing is downloaded; the old
    file's `-e ..` fails here (`..` is .snakemake/, not the project)."""
    copied = tmp_path / ".snakemake" / "conda"
    copied.mkdir(parents=True)
    (copied / "0123abcd_.yaml").write_text((ROOT / "envs" / "basesel.yaml").read_text())
    (copied / "condaenv.requirements.txt").write_text("\n".join(conda_pip_requirements()) + "\n")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "-r",
                          "condaenv.requirements.txt"], cwd=copied, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Would install" not in out.stdout  # every pin is the one this environment runs
    # the library comes from the checkout in every job (the workflow exports it), not from the environment
    assert "export_library(LIB)" in (ROOT / "workflow" / "rules" / "common.smk").read_text()
