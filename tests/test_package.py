"""Package structure: sub-packages resolve their public names lazily, and the CLI and packages import without
TensorFlow (worker processes and `sphembed --help` rely on it)."""

import subprocess
import sys
import types

import pytest

PACKAGES = ("sphembed.models", "sphembed.pose", "sphembed.synthesis", "sphembed.hub_export")


def test_imports_do_not_load_tensorflow():
    code = ("import sys, sphembed.cli, sphembed.demo, sphembed.data, sphembed.data.build, "
            + ", ".join(PACKAGES) + "; sphembed.cli.build_parser(); print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_resolves(name):
    import importlib

    package = importlib.import_module(name)
    assert package.__all__ == sorted(set(package.__all__))
    for attr in package.__all__:
        # The name must resolve to the function or class it names, defined in one of the package's modules, and keep
        # doing so on a second access (after the defining submodule has been imported, which binds the submodule
        # as a package attribute: a public name equal to a submodule name must not be shadowed by the module).
        for _ in range(2):
            obj = getattr(package, attr)
            assert not isinstance(obj, types.ModuleType), f"{name}.{attr} resolves to the module {obj.__name__}"
            assert callable(obj) and obj.__name__ == attr, (name, attr, obj)
            assert obj.__module__.startswith(name + "."), (name, attr, obj.__module__)
    with pytest.raises(AttributeError, match=f"{name}.*no_such_name"):
        getattr(package, "no_such_name")
