"""Relative-pose error metrics of the paper's protocol (DESIGN.md §3), numpy only (no TensorFlow import).

Relative pose of views a, b of objects in poses R_a, R_b (a view renders vertices R v): R_ab = R_b R_a^T.
Error of an estimate R_hat: the geodesic angle arccos((tr(R_hat^T R_ab) - 1) / 2) in degrees, in [0, 180].
Up to a 180-degree symmetry S about an object axis (the object equals itself rotated by S), R_a and R_a S show the
same view, so R_b S R_a^T is an equally correct answer and the error is the smaller of the two angles.
Summary: median error, acc@15 and acc@30 (fraction of errors below 15 and 30 degrees, in percent), and flip@30: the
fraction of errors within 30 degrees of a half turn (>= 150 degrees, in percent), the signature of a two-fold
ambiguity (front/back) when it is far above chance: the angle of a uniformly random rotation has density
(1 - cos w) / pi, so it is >= 150 degrees (pi/6 + 1/2) / pi = 32.6% of the time.
"""

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["AXES", "geodesic_error_deg", "relative_rotation", "pose_errors_deg", "summarize", "THRESHOLDS_DEG",
           "FLIP_DEG"]

AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
THRESHOLDS_DEG = (15.0, 30.0)
FLIP_DEG = 30.0  # flip@30: errors within this angle of 180 degrees


def _check_rotations(R, name):
    R = np.asarray(R, dtype=np.float64)
    if R.ndim < 2 or R.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must have shape [..., 3, 3], got {R.shape}")
    return R


def geodesic_error_deg(R_hat, R):
    """Geodesic angle between rotations in degrees: [...] from R_hat, R [..., 3, 3] (broadcast)."""
    R_hat, R = _check_rotations(R_hat, "R_hat"), _check_rotations(R, "R")
    cos = (np.einsum("...ij,...ij->...", R_hat, R) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def relative_rotation(R_a, R_b):
    """R_ab = R_b R_a^T, [..., 3, 3]: the rotation taking the object as seen in view a to view b."""
    R_a, R_b = _check_rotations(R_a, "R_a"), _check_rotations(R_b, "R_b")
    return R_b @ np.swapaxes(R_a, -1, -2)


def pose_errors_deg(R_hat, R_a, R_b, symmetry_axes=None):
    """Errors of estimated relative poses, optionally up to a 180-degree object symmetry per pair.

    Args:
      R_hat: float [n, 3, 3], estimated R_ab.
      R_a, R_b: float [n, 3, 3], ground-truth object poses of views a and b.
      symmetry_axes: None, or a sequence [n] of None / "x" / "y" / "z" (object frame; meshes are +y up, front +z).
        Where an axis is given the error is min(angle(R_hat, R_b R_a^T), angle(R_hat, R_b S R_a^T)), S the
        180-degree rotation about that axis.

    Returns:
      float64 [n], degrees in [0, 180].

    Raises:
      ValueError: on shapes other than [n, 3, 3], a symmetry list of another length, or an unknown axis.
    """
    R_hat, R_a, R_b = (_check_rotations(x, name) for x, name in ((R_hat, "R_hat"), (R_a, "R_a"), (R_b, "R_b")))
    err = geodesic_error_deg(R_hat, relative_rotation(R_a, R_b))
    if symmetry_axes is None:
        return err
    axes = list(symmetry_axes)
    if len(axes) != err.shape[0]:
        raise ValueError(f"symmetry_axes must have one entry per pair ({err.shape[0]}), got {len(axes)}")
    for axis in set(axes) - {None}:
        if axis not in AXES:
            raise ValueError(f"symmetry axis must be one of {sorted(AXES)} or None, got {axis!r}")
        S = Rotation.from_rotvec(np.pi * np.asarray(AXES[axis])).as_matrix()
        sel = np.array([a == axis for a in axes])
        twin = geodesic_error_deg(R_hat[sel], R_b[sel] @ S @ np.swapaxes(R_a[sel], -1, -2))
        err[sel] = np.minimum(err[sel], twin)
    return err


def summarize(errors_deg):
    """{"n", "median", "acc@15", "acc@30", "flip@30"} of errors in degrees (fractions in percent; NaN for no errors)."""
    e = np.asarray(errors_deg, dtype=np.float64).ravel()
    out = {"n": int(e.size), "median": float(np.median(e)) if e.size else float("nan")}
    for t in THRESHOLDS_DEG:
        out[f"acc@{t:g}"] = float(100.0 * np.mean(e < t)) if e.size else float("nan")
    out[f"flip@{FLIP_DEG:g}"] = float(100.0 * np.mean(e >= 180.0 - FLIP_DEG)) if e.size else float("nan")
    return out
