"""Seeded rotation sampling for views: 2DOF (azimuth + elevation, no roll) and 3DOF (uniform on SO(3)). TF-free.

A view in pose R renders the vertices R v (DESIGN.md §3; camera on +z, y up; object frame +Y up, front +Z).
  * "2dof": R = Rx(elevation) Ry(azimuth), azimuth uniform in [0, 2pi), sin(elevation) uniform in [-1, 1], so the
    viewing direction R^T e_z is uniform on the whole sphere and there is no roll: the object's up axis stays in
    the camera's y-z plane (R e_y has x component 0). Positive elevation looks at the object from above.
  * "3dof": uniform (Haar) on SO(3) (scipy.spatial.transform.Rotation.random).
Equal (n, mode, seed) give equal rotations; every matrix is orthonormal with det +1.
"""

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["ROTATION_MODES", "sample_rotations", "view_angles_to_matrix"]

ROTATION_MODES = ("2dof", "3dof")


def view_angles_to_matrix(azimuth, elevation):
    """R = Rx(elevation) Ry(azimuth): float64 [..., 3, 3] for angle arrays (radians) of equal shape."""
    azimuth, elevation = np.broadcast_arrays(np.asarray(azimuth, float), np.asarray(elevation, float))
    ry = Rotation.from_euler("y", azimuth.reshape(-1, 1))
    rx = Rotation.from_euler("x", elevation.reshape(-1, 1))
    return (rx * ry).as_matrix().reshape(azimuth.shape + (3, 3))


def sample_rotations(n, mode, seed):
    """n seeded view rotations.

    Args:
      n: number of rotations.
      mode: "2dof" (azimuth and elevation over the full sphere, no roll) or "3dof" (uniform on SO(3)).
      seed: int or np.random.SeedSequence.

    Returns:
      np.float64 [n, 3, 3].

    Raises:
      ValueError: unknown mode or negative n.
    """
    if mode not in ROTATION_MODES:
        raise ValueError(f"rotation mode must be one of {ROTATION_MODES}, got {mode!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    if mode == "3dof":
        return Rotation.random(n, random_state=rng).as_matrix().reshape(n, 3, 3)
    azimuth = rng.uniform(0.0, 2 * np.pi, n)
    elevation = np.arcsin(rng.uniform(-1.0, 1.0, n))
    return view_angles_to_matrix(azimuth, elevation)
