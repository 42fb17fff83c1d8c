"""Spherical math, spherical layers and the networks of sphembed.

Public names are imported lazily from their modules (so that `sphembed.models.grids`, which is numpy-only, can be
used in worker processes that must not import TensorFlow):

  grids:     sphere_grid, quadrature_weights, area_weights, so3_grid, sphere_points, bandwidth_of
  sht:       sht, isht, complex_to_real, real_to_complex
  wigner:    wigner_d_table, wigner_d, wigner_D, wigner_d_np
  rotations: euler_to_matrix, matrix_to_euler, geodesic_angle, rotate_coefficients, rotate_map
"""

import importlib

_EXPORTS = {
    "grids": ("sphere_grid", "quadrature_weights", "area_weights", "so3_grid", "sphere_points", "bandwidth_of"),
    "sht": ("sht", "isht", "complex_to_real", "real_to_complex"),
    "wigner": ("wigner_d_table", "wigner_d", "wigner_D", "wigner_d_np"),
    "rotations": ("euler_to_matrix", "matrix_to_euler", "geodesic_angle", "rotate_coefficients", "rotate_map"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
