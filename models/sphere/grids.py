"""Sampling grids on the sphere and on SO(3), and quadrature weights (DESIGN.md §3).

Sphere grid of bandwidth B: equiangular 2B x 2B, colatitude theta_j = pi (2j + 1) / (4B), j = 0..2B-1 (no pole
samples), longitude phi_k = 2 pi k / (2B). Maps are stored `[..., 2B, 2B, C]`; axis -3 is theta (north->south),
axis -2 is phi.

Properties (checked in tests/test_grids.py):
  * sum_{j,k} q_j = 4 pi, and sum_{j,k} q_j f(theta_j, phi_k) = int_S2 f exactly for f band-limited to l < B
    (Driscoll-Healy quadrature).
  * area weights are proportional to sin theta_j with mean 1 over the grid.
This module is numpy-only (no TensorFlow import), so rendering and ray-casting worker processes can use it.
"""

import functools

import numpy as np

from sphembed.models.sphere.shapes import check_bandwidth

__all__ = [
    "sphere_grid",
    "quadrature_weights",
    "area_weights",
    "so3_grid",
    "sphere_points",
]


@functools.lru_cache(maxsize=None)
def _grid_np(B):
    j = np.arange(2 * B)
    theta = np.pi * (2 * j + 1) / (4 * B)
    phi = 2 * np.pi * j / (2 * B)
    return theta, phi


@functools.lru_cache(maxsize=None)
def _dh_weights_np(B):
    """Driscoll-Healy weights w_j for int_0^pi g(theta) sin(theta) dtheta, sum_j w_j = 2. float64 [2B]."""
    theta, _ = _grid_np(B)
    l = np.arange(B)
    s = np.sin(np.outer(theta, 2 * l + 1)) / (2 * l + 1)
    return (2.0 / B) * np.sin(theta) * s.sum(axis=1)


def sphere_grid(B, dtype="float32"):
    """Colatitudes and longitudes of the bandwidth-B equiangular grid.

    Args:
      B: int, bandwidth; the grid is 2B x 2B.
      dtype: "float32" or "float64".

    Returns:
      (theta, phi): two numpy arrays of shape [2B]; theta_j = pi (2j+1)/(4B), phi_k = 2 pi k/(2B).
    """
    check_bandwidth(B)
    theta, phi = _grid_np(B)
    return theta.astype(dtype), phi.astype(dtype)


def quadrature_weights(B, dtype="float32"):
    """Per-row quadrature weights q_j, shape [2B]: int_S2 f ~= sum_{j,k} q_j f(theta_j, phi_k).

    q_j = (pi/B) (2/B) sin(theta_j) sum_{l<B} sin((2l+1) theta_j)/(2l+1); sum_{j,k} q_j = 4 pi; exact for
    band-limited f (l < B).
    """
    check_bandwidth(B)
    return ((np.pi / B) * _dh_weights_np(B)).astype(dtype)


def area_weights(B, dtype="float32"):
    """Per-row area weights for losses and pooling, shape [2B]: proportional to sin(theta_j), mean 1."""
    check_bandwidth(B)
    theta, _ = _grid_np(B)
    w = np.sin(theta)
    return (w / w.mean()).astype(dtype)


def so3_grid(B, dtype="float32"):
    """Euler-angle grid on SO(3) of bandwidth B (DESIGN.md §3, SO(3) correlation).

    Returns:
      (alpha, beta, gamma): numpy arrays [2B], [2B], [2B]; alpha_j = gamma_j = 2 pi j/(2B),
      beta_k = pi (2k+1)/(4B). Rotation R(alpha, beta, gamma) = Rz(alpha) Ry(beta) Rz(gamma).
    """
    check_bandwidth(B)
    theta, phi = _grid_np(B)
    return phi.astype(dtype), theta.astype(dtype), phi.astype(dtype)


def sphere_points(B, dtype="float64"):
    """Unit vectors of the grid points, [2B, 2B, 3]: (sin t cos p, sin t sin p, cos t) at (theta_j, phi_k)."""
    check_bandwidth(B)
    theta, phi = _grid_np(B)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    return np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1).astype(dtype)
