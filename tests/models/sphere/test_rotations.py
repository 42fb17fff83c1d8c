"""Rotations of R^3 and of spherical functions: Euler angles, rotate_coefficients, rotate_map."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from sphembed.models.sphere import grids
from sphembed.models.sphere.rotations import (euler_to_matrix, geodesic_angle, matrix_to_euler, rotate_coefficients,
                                       rotate_map)
from sphembed.models.sphere.harmonics import sht


def _analytic_rotated(sphere_signals, flm, R, B):
    """(Lambda_R f)(w) = f(R^T w) evaluated from the coefficients at the rotated grid points: [2B, 2B, C]."""
    pts = grids.sphere_points(B) @ R  # rows are (R^T w)^T
    theta = np.arccos(np.clip(pts[..., 2], -1, 1)).ravel()
    phi = np.arctan2(pts[..., 1], pts[..., 0]).ravel()
    return np.moveaxis(sphere_signals.eval_flm(flm, theta, phi).reshape(flm.shape[:-2] + (2 * B, 2 * B)), 0, -1)


def test_euler_matches_scipy_random(rng):
    angles = rng.uniform([-np.pi, 0, -np.pi], [np.pi, np.pi, np.pi], size=(5, 3))
    R = euler_to_matrix(*(tf.constant(angles[:, i]) for i in range(3))).numpy()
    np.testing.assert_allclose(R, Rotation.from_euler("ZYZ", angles).as_matrix(), atol=1e-12)
    back = np.stack([a.numpy() for a in matrix_to_euler(tf.constant(R))], -1)
    np.testing.assert_allclose(back, angles, atol=1e-10)


@pytest.mark.parametrize("beta", [0.0, np.pi, 1e-9, np.pi - 1e-9])
def test_euler_round_trip_at_gimbal_lock(beta):
    R = euler_to_matrix(tf.constant(0.7, tf.float64), tf.constant(beta, tf.float64), tf.constant(-0.4, tf.float64))
    np.testing.assert_allclose(euler_to_matrix(*matrix_to_euler(R)).numpy(), R.numpy(), atol=1e-8)


def test_geodesic_angle_preset():
    R = euler_to_matrix(tf.constant(0.3, tf.float64), tf.constant(0.0, tf.float64), tf.constant(0.0, tf.float64))
    np.testing.assert_allclose(geodesic_angle(tf.eye(3, dtype=tf.float64), R).numpy(), 0.3, atol=1e-7)
    np.testing.assert_allclose(geodesic_angle(R, R).numpy(), 0.0, atol=1e-7)


def test_rotate_map_equals_analytic_rotation(rng, dtype, tol, sphere_signals):
    B = 8
    flm = sphere_signals.random_flm(rng, B, (2, 3))
    R = sphere_signals.random_rotations(rng, 2)
    out = rotate_map(tf.constant(sphere_signals.grid_map(flm, B), dtype), tf.constant(R, dtype)).numpy()
    for i in range(2):
        np.testing.assert_allclose(out[i], _analytic_rotated(sphere_signals, flm[i], R[i], B),
                                   atol=tol * np.abs(out).max())


def test_rotate_coefficients_preserves_energy_per_degree(rng, sphere_signals):
    flm = sphere_signals.random_flm(rng, 6, (4, 2))
    out = rotate_coefficients(tf.constant(flm), tf.constant(sphere_signals.random_rotations(rng, 4))).numpy()
    np.testing.assert_allclose(np.sum(np.abs(out) ** 2, -1), np.sum(np.abs(flm) ** 2, -1), rtol=1e-12)


def test_composition(rng, dtype, tol, sphere_signals):
    # Lambda_{R1} Lambda_{R2} = Lambda_{R1 R2}
    B = 6
    f = tf.constant(sphere_signals.grid_map(sphere_signals.random_flm(rng, B, (3, 2)), B), dtype)
    R1, R2 = (tf.constant(r, dtype) for r in sphere_signals.random_rotations(rng, 6).reshape(2, 3, 3, 3))
    np.testing.assert_allclose(rotate_map(rotate_map(f, R2), R1).numpy(), rotate_map(f, R1 @ R2).numpy(),
                               atol=tol * np.abs(f.numpy()).max())


@pytest.mark.parametrize("method", ["spectral", "bilinear"])
def test_one_pixel_longitude_shift_is_a_roll(rng, method, sphere_signals):
    # Rz(2 pi / 2B) maps the grid onto itself: f(Rz^T w) at phi_k is f at phi_{k-1}, i.e. a roll by +1 along phi.
    B = 6
    f = sphere_signals.grid_map(sphere_signals.random_flm(rng, B, (1, 2)), B)
    Rz = euler_to_matrix(*(tf.constant(a, tf.float64) for a in (np.pi / B, 0.0, 0.0)))
    np.testing.assert_allclose(rotate_map(tf.constant(f), Rz, method=method).numpy(), np.roll(f, 1, axis=2),
                               atol=1e-10)


def test_bilinear_approximates_spectral_on_smooth_maps(rng, sphere_signals):
    # Bilinear interpolation error is O(h^2 |f''|) with grid step h = pi/(2B); for a degree-3 map at B = 32 the
    # measured max error is ~2e-3 of the map's range, so 1e-2 is a bound with margin.
    L, B = 4, 32
    flm = sphere_signals.random_flm(rng, L, (2, 1))
    f = tf.constant(isht_grid := sphere_signals.grid_map(flm, B))
    R = tf.constant(sphere_signals.random_rotations(rng, 2))
    spread = np.ptp(isht_grid)
    np.testing.assert_allclose(rotate_map(f, R, method="bilinear").numpy(), rotate_map(f, R, L=L).numpy(),
                               atol=1e-2 * spread)


def test_batch_equals_per_example_and_single_rotation_broadcasts(rng, sphere_signals):
    B = 4
    f = tf.constant(sphere_signals.grid_map(sphere_signals.random_flm(rng, B, (3, 1)), B), tf.float32)
    R = tf.constant(sphere_signals.random_rotations(rng, 3), tf.float32)
    whole = rotate_map(f, R).numpy()
    for i in range(3):
        np.testing.assert_allclose(rotate_map(f[i:i + 1], R[i]).numpy()[0], whole[i], atol=1e-5)
        np.testing.assert_allclose(rotate_map(f[i], R[i], method="bilinear").numpy(),
                                   rotate_map(f, R, method="bilinear").numpy()[i], atol=1e-6)


def test_rotate_coefficients_matches_sht_of_rotated_map(rng, sphere_signals):
    B = 5
    flm = sphere_signals.random_flm(rng, B, (1, 1))
    R = sphere_signals.random_rotations(rng, 1)
    rotated = sht(tf.constant(_analytic_rotated(sphere_signals, flm[0], R[0], B)[None])).numpy()
    np.testing.assert_allclose(rotate_coefficients(tf.constant(flm), tf.constant(R)).numpy(), rotated, atol=1e-10)


def test_bad_inputs():
    f = tf.zeros((1, 8, 8, 1))
    with pytest.raises(ValueError, match=r"R must have shape \[\.\.\., 3, 3\]"):
        rotate_map(f, tf.eye(4))
    with pytest.raises(ValueError, match="method must be one of"):
        rotate_map(f, tf.eye(3), method="nearest")
    with pytest.raises(ValueError, match="f must have shape"):
        rotate_map(tf.zeros((1, 8, 9, 1)), tf.eye(3))
    with pytest.raises(ValueError, match="flm must be complex"):
        rotate_coefficients(tf.zeros((1, 4, 7)), tf.eye(3))
