"""Wigner small-d and D: against an explicit formula, scipy's harmonics, and group properties."""

from math import factorial

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import sph_harm_y

from sphembed.models.sphere import grids
from sphembed.models.sphere.rotations import euler_to_matrix, matrix_to_euler
from sphembed.models.sphere.wigner import wigner_D, wigner_d, wigner_d_np, wigner_d_table


def _d_explicit(l, m, n, beta):
    """Wigner's explicit sum (factorials; fine for small l): the independent reference."""
    pref = np.sqrt(float(factorial(l + m) * factorial(l - m) * factorial(l + n) * factorial(l - n)))
    c, s = np.cos(beta / 2), np.sin(beta / 2)
    total = 0.0
    for k in range(max(0, n - m), min(l + n, l - m) + 1):
        total += ((-1) ** (m - n + k) * c ** (2 * l + n - m - 2 * k) * s ** (m - n + 2 * k)
                  / (factorial(l + n - k) * factorial(k) * factorial(m - n + k) * factorial(l - m - k)))
    return pref * total


def test_d_preset_values():
    beta = 0.7
    d = wigner_d_np(2, [beta])[0, 1]  # l = 1, [3, 3] with m, n = -1, 0, 1
    np.testing.assert_allclose(d[2, 1], -np.sin(beta) / np.sqrt(2), atol=1e-15)  # d^1_{1,0}
    c, s = np.cos(beta), np.sin(beta) / np.sqrt(2)
    expected = np.array([[(1 + c) / 2, -s, (1 - c) / 2],  # rows m = 1, 0, -1; columns n = 1, 0, -1
                         [s, c, -s],
                         [(1 - c) / 2, s, (1 + c) / 2]])
    np.testing.assert_allclose(d, expected[::-1, ::-1], atol=1e-15)
    np.testing.assert_allclose(wigner_d_np(5, [0.0])[0].sum(0), np.eye(9) * (5 - np.abs(np.arange(-4, 5))), atol=1e-14)


@pytest.mark.parametrize("L", [4, 8])
def test_d_matches_explicit_formula(L, rng):
    betas = rng.uniform(0, np.pi, size=3)
    d = wigner_d_np(L, betas)
    for i, beta in enumerate(betas):
        for l in range(L):
            for m in range(-l, l + 1):
                for n in range(-l, l + 1):
                    np.testing.assert_allclose(d[i, l, m + L - 1, n + L - 1], _d_explicit(l, m, n, beta), atol=1e-12)
    # entries outside |m|, |n| <= l are zero
    mask = np.abs(np.arange(-(L - 1), L)) <= np.arange(L)[:, None]
    assert np.all(d[:, ~(mask[:, :, None] & mask[:, None, :])] == 0)


def test_d_column_zero_is_spherical_harmonic_up_to_l128():
    # Y_l^m(theta, 0) = sqrt((2l+1)/4pi) d^l_{m0}(theta): scipy's recursion as an independent reference at high l.
    L = 129
    theta = np.array([0.3, 1.4, 2.9])
    d = wigner_d_np(L, theta)
    for l in (0, 17, 64, 100, 128):
        m = np.arange(-l, l + 1)
        ref = np.real(sph_harm_y(l, m[None, :], theta[:, None], 0.0)) / np.sqrt((2 * l + 1) / (4 * np.pi))
        np.testing.assert_allclose(d[:, l, m + L - 1, L - 1], ref, atol=1e-12)


def test_d_orthogonal_up_to_l128():
    L = 129
    d = wigner_d_np(L, [0.5, 2.2])
    for l in (1, 50, 128):
        block = d[:, l, L - 1 - l:L + l, L - 1 - l:L + l]
        np.testing.assert_allclose(block @ np.swapaxes(block, -1, -2), np.broadcast_to(np.eye(2 * l + 1), block.shape),
                                   atol=1e-12)


def test_table_and_tf_match_numpy():
    L, B = 6, 5
    theta, _ = grids.sphere_grid(B, "float64")
    np.testing.assert_allclose(wigner_d_table(L, B, "float64").numpy(), wigner_d_np(L, theta), atol=1e-15)
    np.testing.assert_allclose(wigner_d(tf.constant(theta), L).numpy(), wigner_d_np(L, theta), atol=1e-12)
    np.testing.assert_allclose(wigner_d(tf.constant(theta, tf.float32), L).numpy(), wigner_d_np(L, theta), atol=1e-5)


def test_D_composition_random(rng, sphere_signals):
    # D(R1 R2) = D(R1) D(R2), per degree.
    L = 5
    R1, R2 = (tf.constant(r) for r in sphere_signals.random_rotations(rng, 2)[:, None])
    D1, D2, D12 = (wigner_D(*matrix_to_euler(R), L).numpy()[0] for R in (R1, R2, R1 @ R2))
    np.testing.assert_allclose(D12, D1 @ D2, atol=1e-12)


def test_D_of_z_rotation_is_phase():
    L = 4
    D = wigner_D(tf.constant(0.3, tf.float64), tf.constant(0.0, tf.float64), tf.constant(0.2, tf.float64), L).numpy()
    m = np.arange(-(L - 1), L)
    mask = (np.abs(m) <= np.arange(L)[:, None]).astype(float)
    np.testing.assert_allclose(np.diagonal(D, axis1=-2, axis2=-1), mask * np.exp(-0.5j * m), atol=1e-14)
    np.testing.assert_allclose(euler_to_matrix(0.3, 0.0, 0.2).numpy()[:2, :2],
                               [[np.cos(0.5), -np.sin(0.5)], [np.sin(0.5), np.cos(0.5)]], atol=1e-6)


def test_d_gradient():
    beta = tf.constant([0.4, 1.9], tf.float64)
    theoretical, numerical = tf.test.compute_gradient(lambda b: wigner_d(b, 4), [beta], delta=1e-6)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def test_bad_L():
    with pytest.raises(ValueError, match="positive integer"):
        wigner_d_np(0, [0.1])
    with pytest.raises(ValueError, match="bandwidth"):
        wigner_d_table(3, 0)
