"""Relative pose from spherical maps: SO(3) correlation, alignment, image pairs, evaluation protocol, serving.

Public names are imported lazily from their modules (so `sphembed.pose.metrics` / `tables` / `methods`, which do
not need TensorFlow, stay light); `sphembed.pose.compiled` caches the compiled functions behind the public ones:

  correlation: so3_correlation, correlation_coefficients, correlation_grid, correlation_at, correlation_tables,
               torus_coefficients
  torus:       compact_torus, compact_from_torus, torus_grid, torus_grid_tables, torus_values, torus_ascent
  alignment:   align, align_coefficients, grid_peaks, refine_peaks
  relative:    relative_pose, align_image_to_mesh, load_model, call_model
  serving:     export_pose_module, PoseModule
  metrics:     geodesic_error_deg, relative_rotation, pose_errors_deg, summarize
  tables:      markdown_table, write_report
  methods:     register_method, get_method, available_methods
  protocol:    evaluate, evaluate_arrays
"""

from sphembed.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "correlation": ("so3_correlation", "correlation_coefficients", "correlation_grid", "correlation_at",
                    "correlation_tables", "torus_coefficients"),
    "torus": ("compact_torus", "compact_from_torus", "torus_grid", "torus_grid_tables", "torus_values",
              "torus_ascent"),
    "alignment": ("align", "align_coefficients", "grid_peaks", "refine_peaks"),
    "relative": ("relative_pose", "align_image_to_mesh", "load_model", "call_model"),
    "serving": ("export_pose_module", "PoseModule"),
    "metrics": ("geodesic_error_deg", "relative_rotation", "pose_errors_deg", "summarize"),
    "tables": ("markdown_table", "write_report"),
    "methods": ("register_method", "get_method", "available_methods"),
    "protocol": ("evaluate", "evaluate_arrays"),
})
