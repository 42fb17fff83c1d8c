"""SO(3) correlation: grid and exact values against a direct quadrature of sum_c <f_c, Lambda_R h_c>."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from sphembed.models.sphere.grids import quadrature_weights, so3_grid, sphere_points
from sphembed.pose.correlation import (correlation_at, correlation_coefficients, correlation_grid,
                                       correlation_tables, so3_correlation, torus_coefficients)

B, C = 5, 3


def _maps(sphere_signals, rng, batch, dtype):
    fl, hl = sphere_signals.random_flm(rng, B, (batch, C)), sphere_signals.random_flm(rng, B, (batch, C))
    return fl, hl, sphere_signals.grid_map(fl, B).astype(dtype), sphere_signals.grid_map(hl, B).astype(dtype)


def _quadrature(sphere_signals, f, hl, R):
    """sum_c sum_jk q_j f_c(w_jk) h_c(R^T w_jk), with h evaluated analytically from its coefficients hl."""
    pts = sphere_points(B).reshape(-1, 3) @ R  # rows are R^T w
    theta = np.arccos(np.clip(pts[:, 2], -1, 1))
    phi = np.arctan2(pts[:, 1], pts[:, 0])
    hr = np.moveaxis(sphere_signals.eval_flm(hl, theta, phi).reshape(C, 2 * B, 2 * B), 0, -1)
    return np.sum(quadrature_weights(B, "float64")[:, None, None] * f * hr)


def test_correlation_at_matches_quadrature_random(rng, dtype, tol, sphere_signals):
    _, hl, f, h = _maps(sphere_signals, rng, 2, dtype)
    R = sphere_signals.random_rotations(rng, 2)
    abg = Rotation.from_matrix(R).as_euler("ZYZ")
    got = correlation_at(correlation_coefficients(f, h), abg[:, 0], abg[:, 1], abg[:, 2]).numpy()
    want = np.array([_quadrature(sphere_signals, f[i].astype(np.float64), hl[i], R[i]) for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def test_correlation_grid_matches_quadrature_random(rng, dtype, tol, sphere_signals):
    _, hl, f, h = _maps(sphere_signals, rng, 1, dtype)
    Bp = 6
    c = so3_correlation(f, h, out_bandwidth=Bp).numpy()
    assert c.shape == (1, 2 * Bp, 2 * Bp, 2 * Bp) and c.dtype == dtype
    a, b, g = so3_grid(Bp, "float64")
    for j, k, i in rng.integers(0, 2 * Bp, size=(4, 3)):
        R = Rotation.from_euler("ZYZ", [a[j], b[k], g[i]]).as_matrix()
        want = _quadrature(sphere_signals, f[0].astype(np.float64), hl[0], R)
        np.testing.assert_allclose(c[0, j, k, i], want, rtol=tol, atol=tol * np.abs(c).max())


def test_correlation_grid_equals_exact_everywhere(rng, dtype, tol, sphere_signals):
    _, _, f, h = _maps(sphere_signals, rng, 2, dtype)
    Bp = 7  # odd B' > B: the zero-padding and the beta table are both exercised
    chat = correlation_coefficients(f, h)
    grid = correlation_grid(chat, Bp, tables=correlation_tables(B, Bp, dtype)).numpy()
    a, b, g = np.meshgrid(*so3_grid(Bp, "float64"), indexing="ij")
    exact = correlation_at(chat, *(np.broadcast_to(x, (2,) + x.shape) for x in (a, b, g))).numpy()
    np.testing.assert_allclose(grid, exact, atol=tol * np.abs(exact).max())


def test_correlation_identity_preset(rng, dtype, tol, sphere_signals):
    _, _, f, _ = _maps(sphere_signals, rng, 1, dtype)
    # C(I) = sum_c <f_c, f_c> = sum_c sum_jk q_j f_c^2 (exact quadrature: f^2 is band-limited to 2B - 1 < 2B).
    want = np.sum(quadrature_weights(B, "float64")[:, None, None] * f[0].astype(np.float64) ** 2)
    got = correlation_at(correlation_coefficients(f, f), [0.0], [0.0], [0.0]).numpy()[0]
    assert abs(got - want) <= tol * want


def test_torus_coefficients_match_wigner_route(rng, dtype, tol, sphere_signals):
    _, _, f, h = _maps(sphere_signals, rng, 2, dtype)
    chat = correlation_coefficients(f, h)
    A = torus_coefficients(chat).numpy()
    angles = rng.uniform(-np.pi, np.pi, size=(3, 2))
    m = np.arange(-(B - 1), B)
    ea, eb, eg = (np.exp(1j * np.outer(x, m)) for x in angles)  # [2, M]
    got = np.real(np.einsum("bmnk,bm,bn,bk->b", A, ea, eg, np.conj(eb)))
    want = correlation_at(chat, *angles).numpy()
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def test_batch_equals_per_pair(rng, sphere_signals):
    _, _, f, h = _maps(sphere_signals, rng, 3, "float32")
    batch = so3_correlation(f, h, out_bandwidth=6).numpy()
    single = np.concatenate([so3_correlation(f[i:i + 1], h[i:i + 1], out_bandwidth=6).numpy() for i in range(3)])
    np.testing.assert_allclose(batch, single, atol=1e-4 * np.abs(single).max())


@pytest.mark.parametrize("fshape, hshape, match", [
    ((2, 10, 10, 3), (2, 10, 10, 2), "same shape"),
    ((2, 10, 10, 3), (1, 10, 10, 3), "same shape"),
    ((10, 10, 3), (10, 10, 3), r"f must have shape \[batch, 2B, 2B, C\]"),
    ((2, 10, 12, 3), (2, 10, 12, 3), "f must have shape"),
    ((2, 10, 10, 3), (2, 9, 9, 3), "h must have shape"),
])
def test_so3_correlation_bad_shapes(fshape, hshape, match):
    with pytest.raises(ValueError, match=match):
        so3_correlation(np.zeros(fshape, np.float32), np.zeros(hshape, np.float32))


def test_so3_correlation_bad_out_bandwidth():
    with pytest.raises(ValueError, match="out_bandwidth=4 must be >= the input bandwidth 5"):
        so3_correlation(np.zeros((1, 10, 10, 1), np.float32), np.zeros((1, 10, 10, 1), np.float32), 4)


def test_so3_correlation_gradient(rng):
    f = tf.constant(rng.normal(size=(1, 4, 4, 1)))
    h = tf.constant(rng.normal(size=(1, 4, 4, 1)))
    w = tf.constant(rng.normal(size=(1, 6, 6, 6)))  # a random linear functional of the whole grid: one backprop

    def weighted(x):
        return tf.reduce_sum(w * so3_correlation(x, h, out_bandwidth=3))

    theoretical, numerical = tf.test.compute_gradient(weighted, [f])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)
