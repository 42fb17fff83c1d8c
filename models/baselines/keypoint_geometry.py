"""Camera geometry of the KeypointNet baseline: NDC pixel grids, spatial softmax keypoints, projection.

Conventions (sphembed's camera, DESIGN.md §3): the camera sits at (0, 0, d) on +z looking at the origin, y up,
perspective, with the field of view that makes the unit sphere fill the image: sin(fov/2) = 1/d, so the focal length
in normalized device coordinates is f = 1/tan(fov/2) = sqrt(d^2 - 1). Pixel coordinates are NDC at pixel centres:
u = (col + 1/2)/(W/2) - 1 (left -> right), v = 1 - (row + 1/2)/(H/2) (up positive). A keypoint (u, v, z) with depth
z > 0 (distance in front of the camera along the viewing axis) is the world point X = (u z/f, v z/f, d - z).
Checkable: project(unproject(uvz)) = uvz; the centre of the image unprojects to the optical axis; a view of the object
in pose R shows object point p at project(R p), so keypoints of two views a, b satisfy X_b = R_ab X_a with
R_ab = R_b R_aᵀ.
"""

import functools
import math

import numpy as np
import tensorflow as tf

from sphembed.models.sphere.shapes import check_points

__all__ = ["focal_length", "ndc_grid", "check_maps", "spatial_softmax", "expected_uv", "project", "unproject", "orientation_targets"]


def focal_length(camera_distance):
    """NDC focal length f = sqrt(d^2 - 1) of the camera at distance d whose view the unit sphere fills."""
    if camera_distance <= 1:
        raise ValueError(f"camera_distance must be > 1 (outside the unit sphere), got {camera_distance}")
    return math.sqrt(camera_distance**2 - 1.0)


@functools.lru_cache(maxsize=None)
def _ndc_grid_np(H, W):
    u = (np.arange(W) + 0.5) / (W / 2) - 1.0
    v = 1.0 - (np.arange(H) + 0.5) / (H / 2)
    grid = np.stack(np.meshgrid(u, v, indexing="xy"), axis=-1)
    grid.setflags(write=False)
    return grid


def ndc_grid(H, W, dtype="float32"):
    """NDC coordinates of pixel centres: float [H, W, 2], [..., 0] = u (left -> right), [..., 1] = v (up)."""
    return tf.constant(_ndc_grid_np(int(H), int(W)), dtype=dtype)


def check_maps(x, name):
    """Raises ValueError unless x has shape [batch, H, W, N] with static H, W."""
    if x.shape.rank != 4 or x.shape[1] is None or x.shape[2] is None:
        raise ValueError(f"{name} must have shape [batch, H, W, N] with static H, W, got {x.shape}")


def spatial_softmax(logits):
    """Softmax over the pixels of each channel.

    Args:
      logits: float [batch, H, W, N].

    Returns:
      float [batch, H, W, N], each channel non-negative and summing to 1 over (H, W).
    """
    with tf.name_scope("spatial_softmax"):
        logits = tf.convert_to_tensor(logits)
        check_maps(logits, "logits")
        shape = tf.shape(logits)
        flat = tf.reshape(logits, [shape[0], -1, shape[3]])
        return tf.reshape(tf.nn.softmax(flat, axis=1), shape)


def expected_uv(prob):
    """Expected NDC position of each distribution map (paper eq. 3).

    Args:
      prob: float [batch, H, W, N], each channel summing to 1.

    Returns:
      float [batch, N, 2]: (u, v) in [-1, 1].
    """
    with tf.name_scope("expected_uv"):
        prob = tf.convert_to_tensor(prob)
        check_maps(prob, "prob")
        grid = ndc_grid(prob.shape[1], prob.shape[2], prob.dtype)
        return tf.einsum("bhwn,hwc->bnc", prob, grid)


def project(xyz, camera_distance):
    """World points to NDC position and depth: (u, v, z) = (f x/z, f y/z, z) with z = d - x_3.

    Args:
      xyz: float [..., N, 3], world coordinates (camera at (0, 0, d) looking at the origin).
      camera_distance: float d > 1.

    Returns:
      float [..., N, 3]: u, v (NDC, v up) and depth z.
    """
    with tf.name_scope("project"):
        xyz = tf.convert_to_tensor(xyz)
        check_points(xyz, "xyz")
        f = focal_length(camera_distance)
        z = camera_distance - xyz[..., 2:]
        return tf.concat([f * xyz[..., :2] / z, z], axis=-1)


def unproject(uvz, camera_distance):
    """NDC position and depth to world points: X = (u z/f, v z/f, d - z); the inverse of `project`.

    Args:
      uvz: float [..., N, 3]: u, v (NDC, v up) and depth z > 0.
      camera_distance: float d > 1.

    Returns:
      float [..., N, 3], world coordinates.
    """
    with tf.name_scope("unproject"):
        uvz = tf.convert_to_tensor(uvz)
        check_points(uvz, "uvz")
        f = focal_length(camera_distance)
        z = uvz[..., 2:]
        return tf.concat([uvz[..., :2] * z / f, camera_distance - z], axis=-1)


def orientation_targets(rotation, camera_distance, axis=(0.0, 0.0, 1.0)):
    """NDC positions of the object's front and back points (+axis, -axis) in a view of pose `rotation`.

    Args:
      rotation: float [batch, 3, 3], object poses R (the view shows R p).
      camera_distance: float d > 1.
      axis: the object's dominant (front) direction, a unit 3-vector in the object frame.

    Returns:
      float [batch, 2, 2]: (u, v) of R·axis and of -R·axis.
    """
    with tf.name_scope("orientation_targets"):
        rotation = tf.convert_to_tensor(rotation)
        points = tf.constant([axis, [-a for a in axis]], dtype=rotation.dtype)
        return project(tf.linalg.matmul(points, rotation, transpose_b=True), camera_distance)[..., :2]

