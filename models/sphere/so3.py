"""Differentiable orthogonal Procrustes and rotation distances (the pose machinery of the baselines).

Points are rows: x, y float [..., N, 3]. `procrustes_rotation(x, y, weights)` returns the proper rotation R
minimizing sum_i w_i ||R (x_i - x̄) - (y_i - ȳ)||^2 (weighted centroids x̄ = sum_i w_i x_i / sum_i w_i), so y ≈ R x
for rigidly related point sets. With H = sum_i w_i x̃_i ỹ_iᵀ = U S Vᵀ the answer is R = V diag(1, 1, det(V Uᵀ)) Uᵀ
(Schönemann 1966 with Kabsch's determinant fix; KeypointNet's formula). It is computed by Horn's closed form instead:
R is the rotation of the unit quaternion that is the top eigenvector of a symmetric 4x4 matrix built from H
(Horn 1987). Same minimizer, but the gradient divides only by the gap between the two largest eigenvalues,
2 (s_2 + s_3) for det H > 0, where the SVD's gradient divides by s_i^2 - s_j^2: in float32 it is wrong when two
singular values (nearly) meet (2.7x too large for an octahedron, see tests/test_keypointnet.py), as they do for
collapsed, noise-dominated keypoints early in KeypointNet training.
Checkable: procrustes_rotation(x, x @ R0ᵀ + t) = R0 for any R0 in SO(3) and translation t; it equals the SVD
formula on random inputs; det R = +1 and Rᵀ R = I even for mirrored inputs.

`chordal_angle(R1, R2) = 2 arcsin(||R1 - R2||_F / (2 sqrt 2))` is the geodesic angle of R1ᵀ R2 (radians), written
through the Frobenius norm as in KeypointNet's pose loss (finite gradients near R1 = R2 thanks to an epsilon inside
the square root). `matrix_from_6d` maps two 3-vectors to SO(3) by Gram-Schmidt (Zhou et al. 2019): the first
column is a1/|a1|.
"""

import tensorflow as tf
from tensorflow_graphics.geometry.transformation import rotation_matrix_3d

from sphembed.models.sphere.shapes import check_points

__all__ = ["procrustes_rotation", "chordal_angle", "matrix_from_6d", "is_rotation"]


def procrustes_rotation(x, y, weights=None):
    """Rotation R (proper, det = +1) that best maps the centred points x onto the centred points y: y ≈ R x.

    Note: A1 to An are optional batch dimensions.

    Args:
      x: float [A1, ..., An, N, 3], points of the first set (rows), N >= 3 for a unique answer.
      y: float [A1, ..., An, N, 3], the corresponding points of the second set.
      weights: optional float [A1, ..., An, N], non-negative, not all zero; uniform if None.

    Returns:
      float [A1, ..., An, 3, 3].

    Raises:
      ValueError: x or y not [..., N, 3], shapes differ, or weights not [..., N].
    """
    with tf.name_scope("procrustes_rotation"):
        x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y, dtype_hint=x.dtype)
        check_points(x, "x")
        check_points(y, "y")
        if x.shape[-2:] != y.shape[-2:]:
            raise ValueError(f"x and y must have the same [N, 3] trailing shape, got {x.shape} and {y.shape}")
        if weights is None:
            weights = tf.ones_like(x[..., 0])
        weights = tf.convert_to_tensor(weights, dtype=x.dtype)
        if weights.shape.rank is None or weights.shape.rank < 1 or weights.shape[-1] != x.shape[-2]:
            raise ValueError(f"weights must have shape [..., N] with N={x.shape[-2]}, got {weights.shape}")
        w = (weights / tf.reduce_sum(weights, axis=-1, keepdims=True))[..., None]
        xc = x - tf.reduce_sum(w * x, axis=-2, keepdims=True)
        yc = y - tf.reduce_sum(w * y, axis=-2, keepdims=True)
        h = tf.linalg.matmul(w * xc, yc, transpose_a=True)  # sum_i w_i x̃_i ỹ_iᵀ: [..., 3, 3]
        (sxx, sxy, sxz), (syx, syy, syz), (szx, szy, szz) = [tf.unstack(row, axis=-1)
                                                             for row in tf.unstack(h, axis=-2)]
        n = tf.stack([
            tf.stack([sxx + syy + szz, syz - szy, szx - sxz, sxy - syx], axis=-1),
            tf.stack([syz - szy, sxx - syy - szz, sxy + syx, szx + sxz], axis=-1),
            tf.stack([szx - sxz, sxy + syx, syy - sxx - szz, syz + szy], axis=-1),
            tf.stack([sxy - syx, szx + sxz, syz + szy, szz - sxx - syy], axis=-1),
        ], axis=-2)
        _, eigenvectors = tf.linalg.eigh(n)  # eigenvalues ascending
        q = eigenvectors[..., -1]  # (w, x, y, z) of the maximizing unit quaternion
        return rotation_matrix_3d.from_quaternion(tf.concat([q[..., 1:], q[..., :1]], axis=-1))  # tfg: (x, y, z, w)


def chordal_angle(R1, R2, eps=1e-12, max_sine=1.0 - 1e-6):
    """Geodesic angle between rotations from their chordal distance: 2 arcsin(||R1 - R2||_F / (2 sqrt 2)).

    Args:
      R1, R2: float [..., 3, 3] (broadcastable), rotations.
      eps: added to the squared norm before the square root, so the gradient is finite at R1 = R2.
      max_sine: the arcsin argument is clipped here, so the gradient stays finite at angle pi (where arcsin' = inf
        would turn the zero gradient of the clip into NaN); angles above 2 arcsin(max_sine) (179.8 degrees) read as
        that value.

    Returns:
      float [...], radians in [0, pi].
    """
    with tf.name_scope("chordal_angle"):
        R1, R2 = tf.convert_to_tensor(R1), tf.convert_to_tensor(R2)
        frob = tf.sqrt(tf.reduce_sum(tf.square(R1 - R2), axis=[-2, -1]) + eps)
        return 2.0 * tf.asin(tf.minimum(frob / (2.0 * 2.0**0.5), max_sine))


def matrix_from_6d(a, eps=1e-12):
    """Rotation matrices from the continuous 6D representation (two 3-vectors, Gram-Schmidt).

    Args:
      a: float [..., 6]; a[..., :3] gives the first column direction, a[..., 3:] the plane of the first two columns.
      eps: lower bound of the squared norms in the normalizations (guards against zero vectors).

    Returns:
      float [..., 3, 3] with columns (b1, b2, b1 x b2): orthonormal, det = +1.

    Raises:
      ValueError: a not [..., 6].
    """
    with tf.name_scope("matrix_from_6d"):
        a = tf.convert_to_tensor(a)
        if a.shape.rank is None or a.shape[-1] != 6:
            raise ValueError(f"a must have shape [..., 6], got {a.shape}")
        b1 = tf.math.l2_normalize(a[..., :3], axis=-1, epsilon=eps)
        b2 = tf.math.l2_normalize(a[..., 3:] - tf.reduce_sum(b1 * a[..., 3:], axis=-1, keepdims=True) * b1, axis=-1,
                                  epsilon=eps)
        return tf.stack([b1, b2, tf.linalg.cross(b1, b2)], axis=-1)


def is_rotation(R, atol=1e-4):
    """Whether each R is a proper rotation: |Rᵀ R - I| <= atol entry-wise and |det R - 1| <= atol. bool [...]."""
    with tf.name_scope("is_rotation"):
        R = tf.convert_to_tensor(R)
        eye = tf.eye(3, dtype=R.dtype)
        ortho = tf.reduce_all(tf.abs(tf.linalg.matmul(R, R, transpose_a=True) - eye) <= atol, axis=[-2, -1])
        return tf.logical_and(ortho, tf.abs(tf.linalg.det(R) - 1.0) <= atol)
