"""Test helpers: random band-limited maps with known coefficients, and their analytic values anywhere."""

import numpy as np
from scipy.special import sph_harm_y

from sphembed.models.sphere.grids import sphere_grid


def random_flm(rng, L, shape=()):
    """Complex coefficients of real band-limited maps: [*shape, L, 2L-1], f_{l,-m} = (-1)^m conj(f_lm)."""
    flm = np.zeros(tuple(shape) + (L, 2 * L - 1), dtype=np.complex128)
    for l in range(L):
        for m in range(l + 1):
            a = rng.normal(size=shape) + (1j * rng.normal(size=shape) if m else 0)
            flm[..., l, m + L - 1] = a
            flm[..., l, -m + L - 1] = (-1) ** m * np.conj(a)
    return flm


def eval_flm(flm, theta, phi):
    """sum_lm flm Y_l^m(theta, phi), real part: flm [..., L, 2L-1], theta/phi [P] -> [..., P]."""
    L = flm.shape[-2]
    out = 0
    for l in range(L):
        for m in range(-l, l + 1):
            out = out + flm[..., l, m + L - 1, None] * sph_harm_y(l, m, theta, phi)
    return np.real(out)


def grid_map(flm, B):
    """Maps of coefficients flm [batch, C, L, 2L-1] on the bandwidth-B grid: [batch, 2B, 2B, C] float64."""
    theta, phi = sphere_grid(B, "float64")
    t, p = np.meshgrid(theta, phi, indexing="ij")
    values = eval_flm(flm, t.ravel(), p.ravel())  # [batch, C, 4B^2]
    return np.moveaxis(values.reshape(values.shape[:-1] + (2 * B, 2 * B)), -3, -1)


def random_rotations(rng, n):
    """Uniform random rotation matrices [n, 3, 3] (QR of Gaussian matrices, det +1)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1
    return q
