"""Packaging: setup.cfg lists the packages by hand, so the built wheel must hold every sub-package of the source tree.

The repository root is the package `sphembed` (setup.cfg `package_dir = sphembed = .`): a folder of the tree holding an
__init__.py (outside tests/, benchmarks/ and the tooling folders) is the package sphembed.<folder>, and must be in the
wheel as sphembed/<folder>/__init__.py, with its modules.
"""

import os
import shutil
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOT_PACKAGES = {"tests", "benchmarks", "build", "dist", "runs"}  # plus hidden folders, *.egg-info, __pycache__


def _skipped(name):
    return name in NOT_PACKAGES or name.startswith(".") or name.endswith(".egg-info") or name == "__pycache__"


def source_packages(root):
    """{dotted package name: [module file paths in the wheel]} of every folder of `root` holding an __init__.py."""
    packages = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skipped(d))
        if "__init__.py" not in files:
            dirs[:] = []  # a folder without __init__.py is no package, nor is anything below it
            continue
        rel = os.path.relpath(folder, root)
        parts = ["sphembed"] + ([] if rel == "." else rel.split(os.sep))
        packages[".".join(parts)] = ["/".join(parts + [f]) for f in sorted(files) if f.endswith(".py")]
    return packages


def missing_from_wheel(packages, wheel_names):
    """Sorted "package: file" lines for each module of `packages` (see `source_packages`) not in `wheel_names`."""
    names = set(wheel_names)
    return sorted(f"{package}: {path}" for package, paths in packages.items() for path in paths if path not in names)


def test_source_packages_are_the_folders_with_an_init():
    packages = source_packages(ROOT)
    assert {"sphembed", "sphembed.models", "sphembed.models.sphere", "sphembed.pose", "sphembed.data"} <= set(packages)
    assert not any(name.split(".")[1:2] in (["tests"], ["benchmarks"]) for name in packages)
    assert all(f"{name.replace('.', '/')}/__init__.py" in paths for name, paths in packages.items())


def test_checker_reports_a_missing_package_and_module():
    packages = {"sphembed": ["sphembed/__init__.py", "sphembed/cli.py"],
                "sphembed.models.nets": ["sphembed/models/nets/__init__.py", "sphembed/models/nets/sphcnn.py"]}
    complete = ["sphembed/__init__.py", "sphembed/cli.py", "sphembed/models/nets/__init__.py",
                "sphembed/models/nets/sphcnn.py", "sphembed-0.1.0.dist-info/RECORD"]
    assert missing_from_wheel(packages, complete) == []
    without_nets = [n for n in complete if not n.startswith("sphembed/models/nets/")]  # a package left out
    assert missing_from_wheel(packages, without_nets) == [
        "sphembed.models.nets: sphembed/models/nets/__init__.py", "sphembed.models.nets: sphembed/models/nets/sphcnn.py"]
    assert missing_from_wheel(packages, [n for n in complete if n != "sphembed/cli.py"]) == ["sphembed: sphembed/cli.py"]


def test_wheel_holds_every_sub_package(tmp_path):
    # Built offline from a copy of the tree (the build writes build/ and *.egg-info next to setup.cfg; a copy keeps
    # concurrent test runs apart) by setuptools' PEP 517 backend in this interpreter, as
    # `pip wheel --no-deps --no-build-isolation` would (measured: ~3 s).
    src, out = tmp_path / "src", tmp_path / "dist"
    shutil.copytree(ROOT, src, ignore=lambda folder, names: [n for n in names if _skipped(n) and
                                                             os.path.isdir(os.path.join(folder, n))])
    build = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                            "print(build_meta.build_wheel(sys.argv[1]))", str(out)],
                           cwd=src, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = out / build.stdout.strip().splitlines()[-1]
    assert wheel.name.startswith("sphembed-") and wheel.suffix == ".whl", build.stdout[-1000:]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    packages = source_packages(ROOT)
    assert len(packages) >= 11  # sphembed, models (+ 5 sub-packages), data, pose, synthesis, hub_export
    missing = missing_from_wheel(packages, names)
    assert not missing, "setup.cfg [options] packages lacks:\n" + "\n".join(missing)
    assert not [n for n in names if n.startswith(("sphembed/tests/", "sphembed/benchmarks/"))]

