"""Spherical math, spherical layers and the networks of sphembed.

Public names are imported lazily from their modules (so that `sphembed.models.grids`, which is numpy-only, can be
used in worker processes that must not import TensorFlow):

  grids:     sphere_grid, quadrature_weights, area_weights, so3_grid, sphere_points, bandwidth_of
  harmonics: sht, isht, complex_to_real, real_to_complex
  wigner:    wigner_d_table, wigner_d, wigner_D, wigner_d_np
  rotations: euler_to_matrix, matrix_to_euler, geodesic_angle, rotate_coefficients, rotate_map
  spherical_layers: SphericalConv, SphericalAveragePool, SphericalBatchNormalization, SphericalGlobalAverage
  sphcnn:    SphericalCNN, endpoint_names, endpoint_model, equivariance_errors
  embedding_net: EmbeddingNet, Synthesizer
  losses:    area_weighted_huber, relative_error, AreaWeightedHuber, RelativeError
  pose_regressor: PoseRegressor;  keypointnet: KeypointNet
  procrustes: procrustes_rotation, chordal_angle, matrix_from_6d, is_rotation
"""

from sphembed.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "grids": ("sphere_grid", "quadrature_weights", "area_weights", "so3_grid", "sphere_points", "bandwidth_of"),
    "harmonics": ("sht", "isht", "complex_to_real", "real_to_complex"),
    "wigner": ("wigner_d_table", "wigner_d", "wigner_D", "wigner_d_np"),
    "rotations": ("euler_to_matrix", "matrix_to_euler", "geodesic_angle", "rotate_coefficients", "rotate_map"),
    "spherical_layers": ("SphericalConv", "SphericalAveragePool", "SphericalBatchNormalization",
                         "SphericalGlobalAverage"),
    "sphcnn": ("SphericalCNN", "endpoint_names", "endpoint_model", "equivariance_errors"),
    "embedding_net": ("EmbeddingNet", "Synthesizer"),
    "losses": ("area_weighted_huber", "relative_error", "AreaWeightedHuber", "RelativeError"),
    "pose_regressor": ("PoseRegressor",),
    "keypointnet": ("KeypointNet",),
    "procrustes": ("procrustes_rotation", "chordal_angle", "matrix_from_6d", "is_rotation"),
})
