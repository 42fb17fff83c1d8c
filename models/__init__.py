"""sphembed.models: spherical math, layers, networks, baselines, losses and their trainers, one sub-package per role.

  sphere/     pure spherical and SO(3) math (numpy / TensorFlow functions, no weights): grids, harmonics (SHT),
              Wigner-d/D, rotations of spherical functions, SO(3) utilities (Procrustes, 6D, geodesics), shape checks
  layers/     Keras layers that hold weights and call the math: spherical convolutions, padded image convolutions,
              the polar lift of a view onto the sphere grid
  nets/       the networks: SphericalCNN, the encoder-decoder backbone, EmbeddingNet / Synthesizer, LiftedEmbeddingNet
  baselines/  the pose baselines of the paper's Table 2: PoseRegressor, KeypointNet (with its geometry and losses)
  losses.py   the embedding losses and metrics, and the one equivariance error
  train/      one fit skeleton (strategy, schedule, callbacks, resume), the run-directory contract, the targets
              cache, augmentation, and the trainers and commands of every stage

Dependencies point one way: sphere <- layers <- nets <- baselines <- train (tests/test_import_graph.py).
Public names are imported lazily from their modules (so that `sphembed.models.sphere.grids`, which is numpy-only, can
be used in worker processes that must not import TensorFlow):

  sphere.grids:     sphere_grid, quadrature_weights, area_weights, so3_grid, sphere_points
  sphere.shapes:    bandwidth_of, check_bandwidth
  sphere.harmonics: sht, isht, complex_to_real, real_to_complex
  sphere.wigner:    wigner_d_table, wigner_d, wigner_D, wigner_d_np
  sphere.rotations: euler_to_matrix, matrix_to_euler, geodesic_angle, rotate_coefficients, rotate_map
  sphere.so3:       procrustes_rotation, chordal_angle, matrix_from_6d, is_rotation
  layers.spherical: SphericalConv, SphericalAveragePool, SphericalBatchNormalization, SphericalGlobalAverage
  nets.sphcnn:      SphericalCNN, endpoint_names, endpoint_model, equivariance_errors
  nets.encoder_decoder: EmbeddingNet, Synthesizer;  nets.lifted: LiftedEmbeddingNet
  losses:           area_weighted_huber, relative_error, equivariance_error, AreaWeightedHuber, RelativeError
  baselines.pose_regressor: PoseRegressor;  baselines.keypointnet: KeypointNet
"""

from sphembed.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "sphere.grids": ("sphere_grid", "quadrature_weights", "area_weights", "so3_grid", "sphere_points"),
    "sphere.shapes": ("bandwidth_of", "check_bandwidth"),
    "sphere.harmonics": ("sht", "isht", "complex_to_real", "real_to_complex"),
    "sphere.wigner": ("wigner_d_table", "wigner_d", "wigner_D", "wigner_d_np"),
    "sphere.rotations": ("euler_to_matrix", "matrix_to_euler", "geodesic_angle", "rotate_coefficients", "rotate_map"),
    "sphere.so3": ("procrustes_rotation", "chordal_angle", "matrix_from_6d", "is_rotation"),
    "layers.spherical": ("SphericalConv", "SphericalAveragePool", "SphericalBatchNormalization",
                         "SphericalGlobalAverage"),
    "nets.sphcnn": ("SphericalCNN", "endpoint_names", "endpoint_model", "equivariance_errors"),
    "nets.encoder_decoder": ("EmbeddingNet", "Synthesizer"),
    "nets.lifted": ("LiftedEmbeddingNet",),
    "losses": ("area_weighted_huber", "relative_error", "equivariance_error", "AreaWeightedHuber", "RelativeError"),
    "baselines.pose_regressor": ("PoseRegressor",),
    "baselines.keypointnet": ("KeypointNet",),
})
