"""A built wheel holds every module of the library, and each imports from it."""
import subprocess
import sys
import zipfile

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
