"""The KeypointNet losses (paper §3; weights from its §4, the variance weight 0.5, the separation threshold δ² = 0.05
and the noise 0.1 from the authors' released defaults):

  consistency  L_con = 1/(2N) sum_i ||(u_i, v_i, u'_i, v'_i) - (û_i, v̂_i, û'_i, v̂'_i)||^2, hats = the other view's
               keypoints moved by the true relative pose and projected;
  pose         L_pose = 2 arcsin(||R̂ - R||_F / (2 sqrt 2)), R̂ = Procrustes of the keypoints with Gaussian noise;
  separation   L_sep = 1/N^2 sum_{i != j} max(0, δ² - ||X_i - X_j||^2) (3D);
  silhouette   L_obj = 1/N sum_i -log sum_{u,v} b(u, v) g_i(u, v) (b = object mask);
  variance     L_var = 1/N sum_i sum_{u,v} g_i(u, v) ||(u, v) - (u_i, v_i)||^2;
  orientation  mean squared NDC error of the orientation network's two points vs the projections of the
               object's front/back points ±a (`keypoint_geometry.orientation_targets`; computed in `KeypointNet`).
Keypoints are in the camera conventions of `sphembed.models.baselines.keypoint_geometry`.
"""

import tensorflow as tf

from sphembed.models.baselines.keypoint_geometry import check_maps, ndc_grid, project, unproject
from sphembed.models.sphere.shapes import check_points
from sphembed.models.sphere.so3 import chordal_angle, procrustes_rotation

__all__ = ["LOSS_NAMES", "PAPER_LOSS_WEIGHTS", "consistency_loss", "pose_loss", "separation_loss", "silhouette_loss",
           "variance_loss"]

LOSS_NAMES = ("consistency", "pose", "separation", "silhouette", "variance", "orientation")
PAPER_LOSS_WEIGHTS = {"consistency": 1.0, "pose": 0.2, "separation": 1.0, "silhouette": 1.0, "variance": 0.5,
                      "orientation": 1.0}


def consistency_loss(uvz_a, uvz_b, R_ab, camera_distance):
    """Multi-view consistency L_con, averaged over the batch.

    Args:
      uvz_a, uvz_b: float [batch, N, 3], keypoints (u, v, z) of views a and b.
      R_ab: float [batch, 3, 3], true relative pose R_b R_aᵀ (X_b = R_ab X_a).
      camera_distance: float d > 1.

    Returns:
      float scalar: mean over the batch of
      1/(2N) sum_i (||uv_b,i - proj(R_ab X_a,i)||^2 + ||uv_a,i - proj(R_abᵀ X_b,i)||^2).
    """
    with tf.name_scope("consistency_loss"):
        xyz_a, xyz_b = unproject(uvz_a, camera_distance), unproject(uvz_b, camera_distance)
        a_in_b = project(tf.linalg.matmul(xyz_a, R_ab, transpose_b=True), camera_distance)
        b_in_a = project(tf.linalg.matmul(xyz_b, R_ab), camera_distance)
        err = (tf.reduce_sum(tf.square(uvz_b[..., :2] - a_in_b[..., :2]), axis=[-2, -1])
               + tf.reduce_sum(tf.square(uvz_a[..., :2] - b_in_a[..., :2]), axis=[-2, -1]))
        return tf.reduce_mean(err) / (2.0 * uvz_a.shape[-2])


def pose_loss(xyz_a, xyz_b, R_ab, noise_a=None, noise_b=None):
    """Relative-pose loss L_pose: angle between the Procrustes estimate from (noisy) keypoints and the true R_ab.

    Args:
      xyz_a, xyz_b: float [batch, N, 3], world keypoints of views a and b.
      R_ab: float [batch, 3, 3], true relative pose (X_b = R_ab X_a).
      noise_a, noise_b: optional float [batch, N, 3] added to the keypoints before Procrustes (training noise).

    Returns:
      float scalar: mean over the batch of 2 arcsin(||R̂ - R_ab||_F / (2 sqrt 2)), radians.
    """
    with tf.name_scope("pose_loss"):
        if noise_a is not None:
            xyz_a = xyz_a + noise_a
        if noise_b is not None:
            xyz_b = xyz_b + noise_b
        return tf.reduce_mean(chordal_angle(procrustes_rotation(xyz_a, xyz_b), R_ab))


def separation_loss(xyz, delta_sq):
    """Separation L_sep = 1/N^2 sum_{i != j} max(0, δ² - ||X_i - X_j||^2), averaged over the batch.

    Args:
      xyz: float [batch, N, 3], world keypoints.
      delta_sq: float δ² > 0, squared distance beyond which pairs cost nothing.

    Returns:
      float scalar.
    """
    with tf.name_scope("separation_loss"):
        xyz = tf.convert_to_tensor(xyz)
        check_points(xyz, "xyz")
        n = xyz.shape[-2]
        d2 = tf.reduce_sum(tf.square(xyz[..., :, None, :] - xyz[..., None, :, :]), axis=-1)
        off_diagonal = 1.0 - tf.eye(n, dtype=xyz.dtype)
        return tf.reduce_mean(tf.reduce_sum(tf.nn.relu(delta_sq - d2) * off_diagonal, axis=[-2, -1])) / n**2


def silhouette_loss(prob, mask, eps=1e-12):
    """Silhouette consistency L_obj = 1/N sum_i -log sum b g_i, averaged over the batch.

    Args:
      prob: float [batch, H, W, N], keypoint distributions.
      mask: [batch, H, W], object silhouette (non-zero inside).
      eps: keeps the log finite when a distribution lies entirely outside the mask.

    Returns:
      float scalar, 0 iff every distribution lies inside the silhouette.
    """
    with tf.name_scope("silhouette_loss"):
        prob = tf.convert_to_tensor(prob)
        check_maps(prob, "prob")
        inside = tf.cast(tf.cast(mask, prob.dtype) > 0, prob.dtype)
        if inside.shape.rank != 3 or inside.shape[1:] != prob.shape[1:3]:
            raise ValueError(f"mask must have shape [batch, H, W] = [batch, {prob.shape[1]}, {prob.shape[2]}], "
                             f"got {inside.shape}")
        mass = tf.einsum("bhwn,bhw->bn", prob, inside)
        return tf.reduce_mean(-tf.math.log(mass + eps))


def variance_loss(prob, uv):
    """Variance L_var = 1/N sum_i sum g_i ||(u, v) - (u_i, v_i)||^2 (NDC units), averaged over the batch.

    Args:
      prob: float [batch, H, W, N], keypoint distributions.
      uv: float [batch, N, 2], their expectations (`expected_uv(prob)`).

    Returns:
      float scalar.
    """
    with tf.name_scope("variance_loss"):
        prob = tf.convert_to_tensor(prob)
        check_maps(prob, "prob")
        grid = ndc_grid(prob.shape[1], prob.shape[2], prob.dtype)
        d2 = tf.reduce_sum(tf.square(grid[None, :, :, None, :] - uv[:, None, None, :, :]), axis=-1)
        return tf.reduce_mean(tf.reduce_sum(prob * d2, axis=[1, 2]))

