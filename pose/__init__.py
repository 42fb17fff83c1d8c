"""Relative pose from spherical embeddings: the SO(3) correlation of two maps, its maximization, pose of image pairs
and of an image against a mesh, the paper's evaluation protocol (Table 2) and the pose SavedModel.

  correlation.py  so3_correlation and friends: C(R) = sum_c <f_c, Lambda_R h_c> from SHT coefficients, on the SO(3)
                  grid or at given rotations
  torus.py        C as a trigonometric polynomial on the 3-torus of Euler angles: its coefficients, its values on the
                  grid and (with gradient and Hessian) anywhere, and the Newton ascent that refines a peak
  alignment.py    align: the rotation maximizing C (coarse-to-fine grid search, then refinement), grid_peaks,
                  refine_peaks
  compiled.py     call_cached: the compiled functions behind the public ones, cached per shape, dtype and options
  relative.py     relative_pose of two images, align_image_to_mesh, through an embedding model; load_model,
                  call_model
  serving.py      export_pose_module, PoseModule: the pose SavedModel (two images in, R_ab out)
  metrics.py      geodesic errors (optionally up to a symmetry), summaries: median, acc@15, acc@30, flip@30
  tables.py       the Table-2 layout as markdown, CSV and JSON, and error histograms
  methods.py      register_method, get_method: the registry of pose methods that eval-pose compares
  protocol.py     evaluate, evaluate_arrays: every method on every dataset, pair kind and category
  cli.py          registers `sphembed eval-pose`

Conventions (DESIGN.md §3): R_ab = R_b R_a^T; (Lambda_R f)(w) = f(R^T w); align(f, h) maximizes
C(R) = sum_c <f_c, Lambda_R h_c>, so R_ab = align(E(I_b), E(I_a)); R = Rz(alpha) Ry(beta) Rz(gamma).
Public names are imported lazily from their modules, so metrics, tables and methods (numpy only) stay TF-free.
"""

from sphembed.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "correlation": ("so3_correlation", "correlation_coefficients", "correlation_grid", "correlation_at",
                    "correlation_tables", "torus_coefficients"),
    "torus": ("compact_torus", "compact_torus_of_half", "compact_from_torus", "torus_grid", "torus_grid_tables",
              "torus_values", "torus_ascent"),
    "alignment": ("align", "align_coefficients", "grid_peaks", "refine_peaks"),
    "relative": ("relative_pose", "align_image_to_mesh", "load_model", "call_model"),
    "serving": ("export_pose_module", "PoseModule"),
    "metrics": ("geodesic_error_deg", "relative_rotation", "pose_errors_deg", "summarize"),
    "tables": ("markdown_table", "write_report"),
    "methods": ("register_method", "get_method", "available_methods"),
    "protocol": ("evaluate", "evaluate_arrays"),
})
