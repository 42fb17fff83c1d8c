"""KeypointNet baseline (Suwajanakorn, Snavely, Tompson, Norouzi, NeurIPS 2018) in Keras 3.

An image is mapped to N 3D keypoints by a fully convolutional dilated network: 2N output channels split into N
keypoint logit maps (spatial softmax -> distributions g_i over pixels) and N depth maps d_i; the keypoint is the
expectation (u_i, v_i) = sum g_i (u, v), z_i = sum g_i d_i (paper eq. 3-4). Relative pose of two views is the
Procrustes rotation of the two unprojected keypoint sets (`sphembed.models.sphere.so3`).

Camera geometry: `sphembed.models.baselines.keypoint_geometry`; losses: `sphembed.models.baselines.keypoint_losses`.
Keypoint depths are bounded to [d - 1, d + 1] (d + tanh of the depth maps): objects lie in the unit sphere, and the
bound keeps every keypoint moved by a rotation about the origin in front of the camera (for d = 3 its depth stays
above 0.76), so the consistency loss never divides by ~0.
The orientation network (same architecture, half the channels, 2 output maps) gives the left/right flag
[u(+a) > u(-a)], fed to the keypoint network as a constant extra input channel. During training the flag is the
ground-truth one until the anneal interval and the predicted one after it (round(anneal·gt + (1-anneal)·pred)),
as in the authors' code.
"""

import math

import keras
import tensorflow as tf

from sphembed.data.render import CAMERA_DISTANCE
from sphembed.models.baselines.base import BaselineModel
from sphembed.models.baselines.keypoint_geometry import (expected_uv, focal_length, orientation_targets,
                                                         spatial_softmax, unproject)
from sphembed.models.baselines.keypoint_losses import (LOSS_NAMES, PAPER_LOSS_WEIGHTS, consistency_loss, pose_loss,
                                                       separation_loss, silhouette_loss, variance_loss)
from sphembed.models.layers.image import BN_MOMENTUM
from sphembed.models.sphere.so3 import procrustes_rotation

__all__ = ["DILATIONS", "dilated_cnn", "KeypointNet"]

# Dilation rates of the 12 hidden 3x3 layers; the 13th (output) layer has dilation 1 (paper §3.4).
DILATIONS = (1, 1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1)


def dilated_cnn(filters, out_channels, name, negative_slope=0.1):
    """The paper's fully convolutional network: 12 dilated 3x3 conv + batch norm + leaky ReLU, then a linear 3x3 conv.

    Args:
      filters: channels of the hidden layers (64 in the paper, 32 for the orientation network).
      out_channels: channels of the output layer.
      name: the model name.
      negative_slope: leaky ReLU slope (0.1, as in the authors' code).

    Returns:
      keras.Sequential mapping [batch, H, W, c] to [batch, H, W, out_channels] (any H, W).
    """
    layers = []
    for i, rate in enumerate(DILATIONS):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", dilation_rate=rate, use_bias=False, name=f"dconv{i}"),
            keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}"),
            keras.layers.LeakyReLU(negative_slope=negative_slope, name=f"lrelu{i}"),
        ]
    layers.append(keras.layers.Conv2D(out_channels, 3, padding="same", name="out"))
    return keras.Sequential(layers, name=name)


@keras.saving.register_keras_serializable(package="sphembed")
class KeypointNet(BaselineModel):
    """Keypoint network + orientation network, trained on view pairs with their relative pose.

    Call: `model(images, training=False, flag=None)` with images float [batch, H, W, c] in [0, 1] returns a dict:
      uv [batch, N, 2] (NDC), z [batch, N] (depth), xyz [batch, N, 3] (world), prob [batch, H, W, N],
      orientation_uv [batch, 2, 2] (predicted front/back points), flag [batch] (predicted left/right flag, 0/1).
    `flag` (float [batch] of 0/1) overrides the predicted flag fed to the keypoint network.

    Training (`fit`) takes dicts with image_a, image_b [batch, H, W, c], mask_a, mask_b [batch, H, W] and
    rotation_a, rotation_b [batch, 3, 3] (object poses); it minimizes the weighted sum of `LOSS_NAMES`.
    `relative_pose(images_a, images_b)` returns the Procrustes rotation R_ab [batch, 3, 3] (X_b ≈ R_ab X_a).

    Args:
      num_keypoints: N (10 in the authors' code).
      filters: hidden channels of the keypoint network (64); the orientation network has filters // 2.
      camera_distance: d of the renderer's camera (`sphembed.data.render.CAMERA_DISTANCE`; focal length
        sqrt(d^2 - 1), see the module docstring).
      noise: standard deviation of the Gaussian noise added to the keypoints in the pose loss (0.1).
      separation_delta_sq: δ² of the separation loss (0.05).
      loss_weights: dict over LOSS_NAMES; missing names take the paper's weights.
      anneal_steps: (start, end) optimizer steps over which the flag fed to the keypoint network switches from the
        ground truth to the prediction.
      dominant_axis: the object's front direction in its own frame (+z for sphembed's meshes).
      image_size: if set, images (and training masks) are resized to image_size x image_size (area averaging)
        before the networks; the keypoints are in NDC, so they do not depend on the resolution.
      seed: seed of the pose-loss noise.
    """

    METRICS = ("loss",) + LOSS_NAMES + ("pose_deg",)

    def __init__(self, num_keypoints=10, filters=64, camera_distance=CAMERA_DISTANCE, noise=0.1,
                 separation_delta_sq=0.05, loss_weights=None, anneal_steps=(30000, 60000),
                 dominant_axis=(0.0, 0.0, 1.0), image_size=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        unknown = set(loss_weights or {}) - set(LOSS_NAMES)
        if unknown:
            raise ValueError(f"loss_weights has unknown names {sorted(unknown)}; allowed: {LOSS_NAMES}")
        if len(anneal_steps) != 2 or not 0 <= anneal_steps[0] < anneal_steps[1]:
            raise ValueError(f"anneal_steps must be (start, end) with 0 <= start < end, got {anneal_steps}")
        focal_length(camera_distance)  # validates d
        self.num_keypoints = int(num_keypoints)
        self.filters = int(filters)
        self.camera_distance = float(camera_distance)
        self.noise = float(noise)
        self.separation_delta_sq = float(separation_delta_sq)
        self.loss_weights = {**PAPER_LOSS_WEIGHTS, **(loss_weights or {})}
        self.anneal_steps = tuple(int(s) for s in anneal_steps)
        self.dominant_axis = tuple(float(a) for a in dominant_axis)
        self.image_size = None if image_size is None else int(image_size)
        self.seed = int(seed)
        self.keypoint_net = dilated_cnn(self.filters, 2 * self.num_keypoints, name="keypoint_network")
        self.orientation_net = dilated_cnn(max(self.filters // 2, 1), 2, name="orientation_network")
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape):
        size = tuple(input_shape[1:3]) if self.image_size is None else (self.image_size,) * 2
        shape = (None,) + size + (input_shape[-1],)
        self.orientation_net.build(shape)
        self.keypoint_net.build(shape[:-1] + (shape[-1] + 1,))
        self.built = True

    def _orientation(self, images, training):
        """Predicted front/back points [batch, 2, 2] and the left/right flag [batch] (0/1) they imply."""
        orientation_uv = expected_uv(spatial_softmax(self.orientation_net(images, training=training)))
        return orientation_uv, tf.cast(orientation_uv[:, 0, 0] > orientation_uv[:, 1, 0], images.dtype)

    def _keypoints(self, images, flag, training):
        """Keypoint distributions, NDC positions, depths and world points given the left/right flag [batch]."""
        flag_map = tf.ones_like(images[..., :1]) * tf.cast(flag, images.dtype)[:, None, None, None]
        out = self.keypoint_net(tf.concat([images, flag_map], axis=-1), training=training)
        prob = spatial_softmax(out[..., : self.num_keypoints])
        uv = expected_uv(prob)
        # Depth maps d + tanh(.) stay in [d - 1, d + 1], the depth range of the unit sphere the objects are normalized
        # into (the authors' code adds their camera distance as a bias, unbounded). Unbounded depths let keypoints
        # moved by R_ab reach the camera plane: the projection divided by ~0 and training produced NaN losses.
        depth = self.camera_distance + tf.tanh(out[..., self.num_keypoints:])
        z = tf.reduce_sum(prob * depth, axis=[1, 2])
        xyz = unproject(tf.concat([uv, z[..., None]], axis=-1), self.camera_distance)
        return {"uv": uv, "z": z, "xyz": xyz, "prob": prob}

    def _resize(self, images):
        """Images (or masks with a channel axis) [batch, H, W, c] as float32 at image_size x image_size (area)."""
        images = tf.cast(tf.convert_to_tensor(images), tf.float32)
        if images.shape.rank != 4:
            raise ValueError(f"images must have shape [batch, H, W, c], got {images.shape}")
        if self.image_size is None or tuple(images.shape[1:3]) == (self.image_size, self.image_size):
            return images
        return tf.image.resize(images, (self.image_size, self.image_size), method="area")

    def call(self, images, training=False, flag=None):
        images = self._resize(images)
        orientation_uv, predicted = self._orientation(images, training)
        out = self._keypoints(images, predicted if flag is None else flag, training)
        return {**out, "orientation_uv": orientation_uv, "flag": predicted}

    def relative_pose(self, images_a, images_b):
        """Relative pose R_ab [batch, 3, 3] (proper rotations) from the keypoints of two image batches (no noise)."""
        with tf.name_scope("keypointnet_relative_pose"):
            xyz_a = self(images_a, training=False)["xyz"]
            xyz_b = self(images_b, training=False)["xyz"]
            return procrustes_rotation(xyz_a, xyz_b)

    def _anneal(self):
        """1 before anneal_steps[0] (ground-truth flag), 0 after anneal_steps[1] (predicted flag), linear between."""
        start, end = self.anneal_steps
        step = tf.cast(self.optimizer.iterations, tf.float32)
        return tf.clip_by_value((end - step) / (end - start), 0.0, 1.0)

    def compute_losses(self, data, training=False):
        """Scalars of a pair batch: the six LOSS_NAMES, their weighted sum "loss", "pose_deg" (noiseless pose error).

        Both views go through the networks as one batch of 2 x batch images (views a first).
        """
        R_ab = tf.linalg.matmul(data["rotation_b"], data["rotation_a"], transpose_b=True)
        images = self._resize(tf.concat([data["image_a"], data["image_b"]], axis=0))
        masks = self._resize(tf.concat([data["mask_a"], data["mask_b"]], axis=0)[..., None])[..., 0] > 0.5
        target = orientation_targets(tf.concat([data["rotation_a"], data["rotation_b"]], axis=0),
                                     self.camera_distance, self.dominant_axis)
        truth = tf.cast(target[:, 0, 0] > target[:, 1, 0], tf.float32)
        orientation_uv, predicted = self._orientation(images, training)
        anneal = self._anneal() if training else tf.constant(0.0)
        out = self._keypoints(images, tf.round(anneal * truth + (1.0 - anneal) * predicted), training)
        # Per-view losses summed over the two views (as in the authors' code): 2 x the mean over both.
        losses = {
            "orientation": 2.0 * tf.reduce_mean(tf.square(orientation_uv - target)),
            "silhouette": 2.0 * silhouette_loss(out["prob"], masks),
            "variance": 2.0 * variance_loss(out["prob"], out["uv"]),
            "separation": 2.0 * separation_loss(out["xyz"], self.separation_delta_sq),
        }
        uvz_a, uvz_b = tf.split(tf.concat([out["uv"], out["z"][..., None]], axis=-1), 2, axis=0)
        xyz_a, xyz_b = tf.split(out["xyz"], 2, axis=0)
        losses["consistency"] = consistency_loss(uvz_a, uvz_b, R_ab, self.camera_distance)
        noise = [None, None]
        if self.noise > 0:
            noise = [keras.random.normal(tf.shape(xyz_a), stddev=self.noise, seed=self.seed_generator)
                     for _ in range(2)]
        losses["pose"] = pose_loss(xyz_a, xyz_b, R_ab, *noise)
        losses["loss"] = tf.add_n([self.loss_weights[name] * losses[name] for name in LOSS_NAMES])
        losses["pose_deg"] = pose_loss(xyz_a, xyz_b, R_ab) * (180.0 / math.pi)
        return losses

    def get_config(self):
        return {
            **super().get_config(),
            "num_keypoints": self.num_keypoints,
            "filters": self.filters,
            "camera_distance": self.camera_distance,
            "noise": self.noise,
            "separation_delta_sq": self.separation_delta_sq,
            "loss_weights": dict(self.loss_weights),
            "anneal_steps": list(self.anneal_steps),
            "dominant_axis": list(self.dominant_axis),
            "image_size": self.image_size,
            "seed": self.seed,
        }
