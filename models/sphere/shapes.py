"""Static shape and argument checks of the spherical math (one module, used by every sub-package).

Each check raises ValueError naming the argument and the shape it got; none converts or copies its input. Grid maps
are `[..., 2B, 2B, C]` (axis -3 theta, axis -2 phi), rotations `[..., 3, 3]`, point sets `[..., N, 3]`.
numpy-only (no TensorFlow import): worker processes use it.
"""

import numpy as np

__all__ = ["check_bandwidth", "check_degree_limit", "bandwidth_of", "check_rotation_matrix", "check_points"]


def check_bandwidth(B, L=None):
    """Raises ValueError unless B is a positive int and (if given) 1 <= L <= B."""
    if not isinstance(B, (int, np.integer)) or B < 1:
        raise ValueError(f"bandwidth B must be a positive integer, got {B!r}")
    if L is not None:
        if not isinstance(L, (int, np.integer)) or L < 1:
            raise ValueError(f"degree band-limit L must be a positive integer, got {L!r}")
        if L > B:
            raise ValueError(f"L={L} must be <= B={B}")


def check_degree_limit(L):
    """Raises ValueError unless the degree band-limit L is a positive int."""
    if not isinstance(L, (int, np.integer)) or L < 1:
        raise ValueError(f"degree band-limit L must be a positive integer, got {L!r}")


def bandwidth_of(f, name="f"):
    """Bandwidth B of a map `[..., 2B, 2B, C]` from its static shape.

    Raises:
      ValueError: if the rank is < 3, or axes -3/-2 are unknown, odd, or not equal (naming `name` and its shape).
    """
    shape = getattr(f, "shape", None)
    dims = None if shape is None or getattr(shape, "rank", 0) is None else tuple(shape)
    if dims is None or len(dims) < 3:
        raise ValueError(f"{name} must have shape [..., 2B, 2B, C], got {shape}")
    n_theta, n_phi = dims[-3], dims[-2]
    if n_theta is None or n_phi is None:
        raise ValueError(f"{name} must have static grid axes [..., 2B, 2B, C], got {shape}")
    if n_theta != n_phi or n_theta % 2:
        raise ValueError(f"{name} must have shape [..., 2B, 2B, C] with an even, square grid, got {shape}")
    return n_theta // 2


def check_rotation_matrix(R, name="R"):
    """Raises ValueError unless R has static shape [..., 3, 3]."""
    if R.shape.rank is None or R.shape.rank < 2 or tuple(R.shape[-2:]) != (3, 3):
        raise ValueError(f"{name} must have shape [..., 3, 3], got {R.shape}")


def check_points(x, name):
    """Raises ValueError unless x has static shape [..., N, 3]."""
    if x.shape.rank is None or x.shape.rank < 2 or x.shape[-1] != 3:
        raise ValueError(f"{name} must have shape [..., N, 3], got {x.shape}")
