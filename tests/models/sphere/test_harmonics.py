"""Spherical harmonic transforms: exactness on band-limited maps, against scipy and pyshtools."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import sph_harm_y

from sphembed.models.sphere import grids
from sphembed.models.sphere.harmonics import complex_to_real, isht, real_to_complex, sht

METHODS = ["separable", "dense"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("l,m", [(0, 0), (1, 1), (3, -2), (5, 5)])
def test_sht_of_single_harmonic_preset(method, l, m):
    # The real part of Y_l^m has coefficients 1/2 at m and (-1)^m/2 at -m (1 at m = 0).
    B = 6
    theta, phi = grids.sphere_grid(B, "float64")
    t, p = np.meshgrid(theta, phi, indexing="ij")
    f = np.real(sph_harm_y(l, m, t, p))[None, :, :, None]
    flm = sht(tf.constant(f), method=method).numpy()[0, 0]
    expected = np.zeros((B, 2 * B - 1), complex)
    expected[l, m + B - 1] += 0.5 if m else 1.0
    if m:
        expected[l, -m + B - 1] += 0.5 * (-1) ** m
    np.testing.assert_allclose(flm, expected, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("B,L", [(4, 4), (8, 5), (16, 16)])
def test_sht_random_against_coefficients(rng, dtype, tol, method, B, L, sphere_signals):
    flm = sphere_signals.random_flm(rng, L, (2, 3))
    f = sphere_signals.grid_map(flm, B)
    out = sht(tf.constant(f, dtype=dtype), L, method=method).numpy()
    np.testing.assert_allclose(out, flm, atol=tol * np.abs(flm).max())


@pytest.mark.parametrize("method", METHODS)
def test_sht_matches_brute_force_quadrature(rng, method):
    # An independent route: sum_jk q_j f_jk conj(Y_l^m) with scipy's Y_l^m, on a map that is NOT band-limited.
    B = 6
    f = rng.normal(size=(1, 2 * B, 2 * B, 1))
    theta, phi = grids.sphere_grid(B, "float64")
    t, p = np.meshgrid(theta, phi, indexing="ij")
    q = grids.quadrature_weights(B, "float64")[:, None]
    out = sht(tf.constant(f), method=method).numpy()[0, 0]
    for l in range(B):
        for m in range(-l, l + 1):
            ref = np.sum(q * f[0, :, :, 0] * np.conj(sph_harm_y(l, m, t, p)))
            np.testing.assert_allclose(out[l, m + B - 1], ref, atol=1e-12)


def test_real_basis_matches_pyshtools(rng, sphere_signals):
    # pyshtools' orthonormal real harmonics without Condon-Shortley phase are our real basis:
    # cilm[0, l, m] <-> r_{l,m}, cilm[1, l, m] <-> r_{l,-m}.
    pyshtools = pytest.importorskip("pyshtools")
    B = L = 8
    f = sphere_signals.grid_map(sphere_signals.random_flm(rng, L, (1, 1)), B)
    theta, phi = grids.sphere_grid(B, "float64")
    t, p = np.meshgrid(theta, phi, indexing="ij")
    cilm, _ = pyshtools.expand.SHExpandLSQ(f[0, :, :, 0].ravel(), 90 - np.degrees(t.ravel()), np.degrees(p.ravel()),
                                           L - 1, norm=4, csphase=1)
    r = sht(tf.constant(f), basis="real").numpy()[0, 0]
    for l in range(L):
        for m in range(l + 1):
            np.testing.assert_allclose(r[l, m + L - 1], cilm[0, l, m], atol=1e-10)
            if m:
                np.testing.assert_allclose(r[l, -m + L - 1], cilm[1, l, m], atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("basis", ["complex", "real"])
def test_round_trips(rng, dtype, tol, method, basis, sphere_signals):
    B = 8
    f = sphere_signals.grid_map(sphere_signals.random_flm(rng, B, (2, 2)), B)
    x = tf.constant(f, dtype=dtype)
    coeffs = sht(x, basis=basis, method=method)
    np.testing.assert_allclose(isht(coeffs, B, basis=basis, method=method).numpy(), f, atol=tol * np.abs(f).max())
    np.testing.assert_allclose(sht(isht(coeffs, B, basis=basis, method=method), basis=basis, method=method).numpy(),
                               coeffs.numpy(), atol=tol * np.abs(coeffs.numpy()).max())


def test_isht_upsamples_exactly(rng, sphere_signals):
    # Synthesis at a finer grid (B_out > L) evaluates the same band-limited function there.
    L, B = 4, 8
    flm = sphere_signals.random_flm(rng, L, (1, 1))
    np.testing.assert_allclose(isht(tf.constant(flm), B).numpy(), sphere_signals.grid_map(flm, B), atol=1e-12)


def test_methods_agree(rng):
    f = tf.constant(rng.normal(size=(2, 12, 12, 3)))
    np.testing.assert_allclose(sht(f, method="dense").numpy(), sht(f, method="separable").numpy(), atol=1e-12)
    r = sht(f, basis="real")
    np.testing.assert_allclose(isht(r, basis="real", method="dense").numpy(),
                               isht(r, basis="real", method="separable").numpy(), atol=1e-12)


def test_complex_real_conversions_invert(rng, sphere_signals):
    flm = tf.constant(sphere_signals.random_flm(rng, 6, (3,)))
    np.testing.assert_allclose(real_to_complex(complex_to_real(flm)).numpy(), flm.numpy(), atol=1e-14)
    r = tf.constant(rng.normal(size=(3, 6, 11)) * (np.abs(np.arange(-5, 6))[None, :] <= np.arange(6)[:, None]))
    np.testing.assert_allclose(complex_to_real(real_to_complex(r)).numpy(), r.numpy(), atol=1e-14)


def test_batch_equals_per_example(rng):
    f = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)
    whole = sht(tf.constant(f)).numpy()
    for i in range(3):
        np.testing.assert_allclose(sht(tf.constant(f[i])).numpy(), whole[i], atol=1e-6)


def test_gradient_of_isht(sphere_signals):
    flm = tf.constant(sphere_signals.random_flm(np.random.default_rng(0), 3, (1, 1)).real)
    theoretical, numerical = tf.test.compute_gradient(lambda r: isht(r, 3, basis="real"), [flm])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


@pytest.mark.parametrize("shape", [(8, 8), (1, 7, 7, 1), (1, 8, 10, 1)])
def test_sht_bad_shapes(shape):
    with pytest.raises(ValueError, match="f must have shape"):
        sht(tf.zeros(shape))


def test_bad_arguments():
    x = tf.zeros((1, 8, 8, 1))
    with pytest.raises(ValueError, match="L=5 must be <= B=4"):
        sht(x, L=5)
    with pytest.raises(ValueError, match="basis must be one of"):
        sht(x, basis="spin")
    with pytest.raises(ValueError, match="method must be one of"):
        sht(x, method="fast")
    with pytest.raises(ValueError, match="float32 or float64"):
        sht(tf.zeros((1, 8, 8, 1), tf.int32))
    with pytest.raises(ValueError, match=r"flm must have shape \[\.\.\., C, L, 2L-1\]"):
        isht(tf.zeros((1, 4, 6), tf.complex64))
    with pytest.raises(ValueError, match="L=4 must be <= B=2"):
        isht(tf.zeros((1, 4, 7), tf.complex64), 2)
    with pytest.raises(ValueError, match="needs complex"):
        isht(tf.zeros((1, 4, 7)))
