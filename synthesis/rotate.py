"""Rotating spherical embeddings, and the rotation paths of novel-view animations (DESIGN.md §1, §3).

An embedding of a view of the object in pose R_a is E(I_a) ~ Lambda_{R_a} T (T: the spherical-CNN target of the
unrotated mesh). Rotating the object by R in the world frame (the fixed camera looks down -z from +z, y up) gives
the pose R R_a, whose embedding is Lambda_R E(I_a): `rotate_embedding(E(I_a), R)`.

Properties (checked in tests/test_synthesis.py):
  * rotate_embedding(e, I) = e and rotate_embedding(rotate_embedding(e, R1), R2) = rotate_embedding(e, R2 R1) for
    maps band-limited to l < L (exact spectral rotation: SHT -> Wigner-D -> inverse SHT);
  * a rotation about z by 2 pi k / (2B) is a roll of the map by k longitude columns;
  * turntable_rotations(n)[k] = Ry(2 pi k / n) (about the vertical image axis); tumble_rotations(n) is a closed
    loop (frame n would equal frame 0) through rotations about all three axes.
"""

import numpy as np
import tensorflow as tf
from scipy.spatial.transform import Rotation

from sphembed.models.sphere.rotations import rotate_map

__all__ = ["rotate_embedding", "turntable_rotations", "tumble_rotations"]


def rotate_embedding(e, R, L=None):
    """Exact spectral rotation of spherical embeddings: returns Lambda_R e, the map w -> e(R^T w).

    Args:
      e: float32 [batch, 2B, 2B, C]; axis 1 is theta (north->south), axis 2 is phi.
      R: float [batch, 3, 3] or [3, 3]; R = Rz(alpha) Ry(beta) Rz(gamma), active.
      L: degree band-limit (default B); degrees l >= L of e are dropped.

    Returns:
      float32 [batch, 2B, 2B, C].

    Raises:
      ValueError: on a bad map or rotation shape.
    """
    with tf.name_scope("rotate_embedding"):
        return rotate_map(e, R, method="spectral", L=L)


def turntable_rotations(n):
    """n rotations about the vertical (y) axis by 2 pi k / n, k = 0..n-1: float32 [n, 3, 3]."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    angles = 2 * np.pi * np.arange(n) / n
    return Rotation.from_rotvec(angles[:, None] * np.array([0.0, 1.0, 0.0])).as_matrix().astype(np.float32)


def tumble_rotations(n):
    """A closed 3D tumble: R_k = Rx(2 pi t) Ry(4 pi t) Rz(2 pi t), t = k / n, k = 0..n-1: float32 [n, 3, 3]."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    t = 2 * np.pi * np.arange(n) / n
    axes = np.eye(3)
    rx, ry, rz = (Rotation.from_rotvec(s[:, None] * axes[i]) for i, s in enumerate((t, 2 * t, t)))
    return (rx * ry * rz).as_matrix().astype(np.float32)
