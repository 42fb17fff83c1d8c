"""Rotations of R^3 and of spherical functions (DESIGN.md §3).

R(alpha, beta, gamma) = Rz(alpha) Ry(beta) Rz(gamma): ZYZ Euler angles, active, right-handed. A rotation acts on a
spherical function by (Lambda_R f)(w) = f(R^T w) and on its coefficients by (Lambda_R f)^l_m = sum_n D^l_{mn}(R) f^l_n
(D from `sphembed.models.sphere.wigner`). Checkable: Lambda_{R1} Lambda_{R2} = Lambda_{R1 R2}; rotating a band-limited map
equals evaluating it at R^T w; euler_to_matrix(*matrix_to_euler(R)) = R.
"""

import numpy as np
import tensorflow as tf
from tensorflow_graphics.geometry.transformation import rotation_matrix_3d

from sphembed.models.sphere.grids import sphere_points
from sphembed.models.sphere.harmonics import isht, sht
from sphembed.models.sphere.shapes import bandwidth_of, check_rotation_matrix
from sphembed.models.sphere.wigner import jy_eigenvectors

__all__ = [
    "euler_to_matrix",
    "matrix_to_euler",
    "geodesic_angle",
    "rotate_coefficients",
    "rotate_map",
    "bilinear_sample",
    "ROTATE_METHODS",
]

ROTATE_METHODS = ("spectral", "bilinear")


def euler_to_matrix(alpha, beta, gamma):
    """Rotation matrices R = Rz(alpha) Ry(beta) Rz(gamma) (elementary rotations from tensorflow_graphics).

    Args:
      alpha, beta, gamma: float [...] (broadcastable), radians.

    Returns:
      float [..., 3, 3].
    """
    with tf.name_scope("euler_to_matrix"):
        alpha, beta, gamma = (tf.convert_to_tensor(a) for a in (alpha, beta, gamma))
        shape = tf.broadcast_dynamic_shape(tf.broadcast_dynamic_shape(tf.shape(alpha), tf.shape(beta)), tf.shape(gamma))
        alpha, beta, gamma = (tf.broadcast_to(a, shape) for a in (alpha, beta, gamma))
        zero = tf.zeros_like(alpha)
        # tensorflow_graphics' from_euler([x, y, z]) = Rz(z) Ry(y) Rx(x).
        rz_a = rotation_matrix_3d.from_euler(tf.stack([zero, zero, alpha], axis=-1))
        ry_b = rotation_matrix_3d.from_euler(tf.stack([zero, beta, zero], axis=-1))
        rz_g = rotation_matrix_3d.from_euler(tf.stack([zero, zero, gamma], axis=-1))
        return rz_a @ ry_b @ rz_g


def matrix_to_euler(R, eps=1e-7):
    """ZYZ Euler angles of rotation matrices, R = Rz(alpha) Ry(beta) Rz(gamma).

    Args:
      R: float [..., 3, 3], proper rotations.
      eps: sin(beta) below which the gimbal-lock branch is used (gamma = 0).

    Returns:
      (alpha, beta, gamma): float [...] each; alpha, gamma in (-pi, pi], beta in [0, pi].
    """
    with tf.name_scope("matrix_to_euler"):
        R = tf.convert_to_tensor(R)
        check_rotation_matrix(R)
        sb = tf.sqrt(tf.square(R[..., 0, 2]) + tf.square(R[..., 1, 2]))
        beta = tf.atan2(sb, R[..., 2, 2])
        regular = sb > eps
        alpha = tf.where(regular, tf.atan2(R[..., 1, 2], R[..., 0, 2]),
                         tf.where(R[..., 2, 2] > 0, tf.atan2(R[..., 1, 0], R[..., 0, 0]),
                                  tf.atan2(-R[..., 1, 0], -R[..., 0, 0])))
        gamma = tf.where(regular, tf.atan2(R[..., 2, 1], -R[..., 2, 0]), tf.zeros_like(beta))
        return alpha, beta, gamma


def geodesic_angle(R1, R2):
    """Angle of R1^T R2 in radians, [...]: arccos((tr(R1^T R2) - 1) / 2), clipped for round-off."""
    with tf.name_scope("geodesic_angle"):
        R1, R2 = tf.convert_to_tensor(R1), tf.convert_to_tensor(R2)
        tr = tf.reduce_sum(R1 * R2, axis=[-2, -1])
        return tf.acos(tf.clip_by_value((tr - 1) / 2, -1.0, 1.0))


def _phase(angle, L, cdtype):
    """exp(-i m angle) for m = -(L-1)..L-1: [..., 2L-1]."""
    m = tf.cast(tf.range(-(L - 1), L), angle.dtype)
    x = angle[..., None] * m
    return tf.exp(tf.complex(tf.zeros_like(x), -x))


def rotate_coefficients(flm, R, tables=None):
    """Rotate spherical-harmonic coefficients: (Lambda_R f)^l_m = sum_n D^l_{mn}(R) f^l_n.

    Computed as D^l = e^{-i m alpha} V diag(e^{-i k beta}) V^H e^{-i n gamma} applied factor by factor
    (O(L^3) per channel, no D matrix is formed).

    Args:
      flm: complex [..., C, L, 2L-1], m at index m + L - 1.
      R: float [..., 3, 3] (batch dims broadcast against flm's `...`), or [3, 3].
      tables: optional `jy_eigenvectors(L)` (complex), built if None.

    Returns:
      complex [..., C, L, 2L-1].
    """
    with tf.name_scope("rotate_coefficients"):
        flm = tf.convert_to_tensor(flm)
        if not flm.dtype.is_complex or flm.shape.rank < 3 or flm.shape[-1] != 2 * flm.shape[-2] - 1:
            raise ValueError(f"flm must be complex [..., C, L, 2L-1], got {flm.dtype.name} {flm.shape}")
        L = flm.shape[-2]
        rdt = tf.float64 if flm.dtype == tf.complex128 else tf.float32
        R = tf.cast(tf.convert_to_tensor(R), rdt)
        check_rotation_matrix(R)
        alpha, beta, gamma = matrix_to_euler(R)
        V = jy_eigenvectors(L, flm.dtype) if tables is None else tf.cast(tables, flm.dtype)
        g = flm * _phase(gamma, L, flm.dtype)[..., None, None, :]
        t = tf.einsum("lnk,...ln->...lk", tf.math.conj(V), g) * _phase(beta, L, flm.dtype)[..., None, None, :]
        u = tf.einsum("lmk,...lk->...lm", V, t)
        return u * _phase(alpha, L, flm.dtype)[..., None, None, :]


def bilinear_sample(f, points):
    """Grid maps evaluated at arbitrary unit vectors by bilinear interpolation in (theta, phi).

    A grid point (j, k) sits at theta = pi (j + 1/2) / 2B, phi = 2 pi k / 2B (`sphere_points`); theta is clamped to
    the first and last rows (no interpolation across the poles), phi wraps around. `rotate_map(method="bilinear")`
    is this at points R^T w; it also serves warps that are not rotations (e.g. the anisotropic scaling
    augmentation of the spherical CNN).

    Args:
      f: float [batch, 2B, 2B, C] maps (axis 1 theta north->south, axis 2 phi).
      points: float [batch, ..., 3] unit vectors, same dtype as f (typically [batch, 2B, 2B, 3]).

    Returns:
      float [batch, ..., C]: f at each point.
    """
    B = bandwidth_of(f)
    n = 2 * B
    theta = tf.acos(tf.clip_by_value(points[..., 2], -1.0, 1.0))
    phi = tf.math.floormod(tf.atan2(points[..., 1], points[..., 0]), 2 * np.pi)
    j = tf.clip_by_value(theta * n / np.pi - 0.5, 0.0, n - 1.0)
    k = phi * n / (2 * np.pi)
    j0, k0 = tf.floor(j), tf.floor(k)
    wj, wk = (j - j0)[..., None], (k - k0)[..., None]
    j0 = tf.cast(j0, tf.int32)
    k0 = tf.math.floormod(tf.cast(k0, tf.int32), n)
    j1, k1 = tf.minimum(j0 + 1, n - 1), tf.math.floormod(k0 + 1, n)

    def at(jj, kk):
        return tf.gather_nd(f, tf.stack([jj, kk], axis=-1), batch_dims=1)

    return ((1 - wj) * ((1 - wk) * at(j0, k0) + wk * at(j0, k1))
            + wj * ((1 - wk) * at(j1, k0) + wk * at(j1, k1)))


def rotate_map(f, R, method="spectral", L=None):
    """Rotate grid maps: returns Lambda_R f, i.e. the map w -> f(R^T w).

    Args:
      f: float [batch, 2B, 2B, C] (or [2B, 2B, C]); axis -3 is theta (north->south), axis -2 is phi.
      R: float [batch, 3, 3] or [3, 3].
      method: "spectral" (SHT -> Wigner-D -> inverse SHT; exact for maps band-limited to l < L) or "bilinear"
        (interpolate f at R^T w; for maps that are not band-limited, e.g. ray-cast depth maps).
      L: degree band-limit of the spectral method (default B).

    Returns:
      float [batch, 2B, 2B, C] (rank as f).

    Raises:
      ValueError: on a bad map or rotation shape or an unknown method.
    """
    if method not in ROTATE_METHODS:
        raise ValueError(f"method must be one of {ROTATE_METHODS}, got {method!r}")
    with tf.name_scope("rotate_map"):
        f = tf.convert_to_tensor(f)
        B = bandwidth_of(f)
        R = tf.cast(tf.convert_to_tensor(R), f.dtype)
        check_rotation_matrix(R)
        if method == "spectral":
            return isht(rotate_coefficients(sht(f, L), R), B)
        single = f.shape.rank == 3
        fb = f[None] if single else f
        Rb = tf.broadcast_to(R, tf.concat([tf.shape(fb)[:1], [3, 3]], 0)) if R.shape.rank == 2 else R
        pts = tf.constant(sphere_points(B), dtype=f.dtype)
        src = tf.einsum("bji,hwj->bhwi", Rb, pts)  # R^T w
        out = bilinear_sample(fb, src)
        return out[0] if single else out
