"""TF-Hub reusable SavedModels: export (export_sphcnn, export_reusable) and frozen loading (load_targets_layer).

Public names are imported lazily from their modules so that `sphembed --help` does not import TensorFlow:

  reusable: export_reusable, load_module, module_specs
  sphcnn:   export_sphcnn, export_from_checkpoint
  targets:  HubTargets, load_targets_layer, list_endpoints
"""

import importlib

_EXPORTS = {
    "reusable": ("export_reusable", "load_module", "module_specs"),
    "sphcnn": ("export_sphcnn", "export_from_checkpoint"),
    "targets": ("HubTargets", "load_targets_layer", "list_endpoints"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
