"""Relative pose from spherical maps: SO(3) correlation, alignment, image pairs, evaluation protocol, serving.

Public names are imported lazily from their modules (so `sphembed.pose.metrics` / `tables` / `methods`, which do
not need TensorFlow, stay light):

  correlation: so3_correlation, correlation_coefficients, correlation_grid, correlation_at, correlation_tables,
               torus_coefficients
  align:       align, align_coefficients, grid_peaks, refine_peaks
  relative:    relative_pose, align_image_to_mesh, load_model, call_model
  serving:     export_pose_module, PoseModule
  metrics:     geodesic_error_deg, relative_rotation, pose_errors_deg, summarize
  tables:      markdown_table, write_report
  methods:     register_method, get_method, available_methods
  evaluate:    evaluate, evaluate_arrays
"""

import importlib

_EXPORTS = {
    "correlation": ("so3_correlation", "correlation_coefficients", "correlation_grid", "correlation_at",
                    "correlation_tables", "torus_coefficients"),
    "align": ("align", "align_coefficients", "grid_peaks", "refine_peaks"),
    "relative": ("relative_pose", "align_image_to_mesh", "load_model", "call_model"),
    "serving": ("export_pose_module", "PoseModule"),
    "metrics": ("geodesic_error_deg", "relative_rotation", "pose_errors_deg", "summarize"),
    "tables": ("markdown_table", "write_report"),
    "methods": ("register_method", "get_method", "available_methods"),
    "evaluate": ("evaluate", "evaluate_arrays"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
