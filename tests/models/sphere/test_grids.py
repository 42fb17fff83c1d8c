"""Sphere grid, quadrature and area weights (DESIGN.md §3)."""

import numpy as np
import pytest

from sphembed.models.sphere import grids, shapes


@pytest.mark.parametrize("B", [1, 4, 16])
def test_grid_preset(B):
    theta, phi = grids.sphere_grid(B, "float64")
    np.testing.assert_allclose(theta, np.pi * (2 * np.arange(2 * B) + 1) / (4 * B))
    np.testing.assert_allclose(phi, 2 * np.pi * np.arange(2 * B) / (2 * B))
    assert theta.min() > 0 and theta.max() < np.pi  # no pole samples
    np.testing.assert_allclose(grids.quadrature_weights(B, "float64").sum() * 2 * B, 4 * np.pi, atol=1e-12)
    w = grids.area_weights(B, "float64")
    np.testing.assert_allclose(w.mean(), 1.0, atol=1e-12)
    np.testing.assert_allclose(w / np.sin(theta), w[0] / np.sin(theta[0]), atol=1e-12)
    pts = grids.sphere_points(B)
    np.testing.assert_allclose(np.linalg.norm(pts, axis=-1), 1.0, atol=1e-12)
    alpha, beta, gamma = grids.so3_grid(B, "float64")
    np.testing.assert_allclose(alpha, phi)
    np.testing.assert_allclose(beta, theta)
    np.testing.assert_allclose(gamma, phi)


@pytest.mark.parametrize("B", [2, 8])
def test_quadrature_exact_on_band_limited_products(rng, B, sphere_signals):
    # Driscoll-Healy is exact for degree < 2B: the product of two maps band-limited to l < B integrates exactly.
    f, h = sphere_signals.random_flm(rng, B, (2,))
    theta, phi = grids.sphere_grid(B, "float64")
    t, p = np.meshgrid(theta, phi, indexing="ij")
    fv, hv = sphere_signals.eval_flm(np.stack([f, h]), t.ravel(), p.ravel())
    quad = (grids.quadrature_weights(B, "float64")[:, None] * (fv * hv).reshape(2 * B, 2 * B)).sum()
    exact = np.real(np.sum(f * np.conj(h)))  # Parseval for real maps
    np.testing.assert_allclose(quad, exact, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "8"])
def test_bad_bandwidth_raises(bad):
    with pytest.raises(ValueError, match="bandwidth"):
        grids.sphere_grid(bad)


def test_L_greater_than_B_raises():
    with pytest.raises(ValueError, match="L=9 must be <= B=8"):
        shapes.check_bandwidth(8, 9)


@pytest.mark.parametrize("shape", [(8, 8), (2, 7, 7, 1), (2, 8, 6, 1), (4,)])
def test_bandwidth_of_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"\[\.\.\., 2B, 2B, C\]"):
        shapes.bandwidth_of(np.zeros(shape), name="f")


def test_bandwidth_of_preset():
    assert shapes.bandwidth_of(np.zeros((3, 16, 16, 2))) == 8
