"""Lazy public names for the sub-packages: `pkg.name` imports the module that defines it on first use, so importing
a package (or `sphembed --help`) does not import TensorFlow, and numpy-only modules stay usable in TF-free workers."""

import importlib

__all__ = ["lazy_exports"]


def lazy_exports(package, exports):
    """(__getattr__, __all__) for a package whose public names live in its modules.

    Args:
      package: the package's __name__.
      exports: {module name inside the package: (public names it defines, ...)}.

    Raises:
      ValueError: if a public name is also a module name: importing that module would set the package attribute to
        the module and hide the public name.
    """
    where = {name: module for module, names in exports.items() for name in names}
    clashes = sorted(set(where) & set(exports))
    if clashes:
        raise ValueError(f"{package}: public names {clashes} are also module names")

    def __getattr__(name):
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(where)
