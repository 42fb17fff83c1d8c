"""Pose-regression baseline (after Mahendran, Ali, Vidal, "3D pose regression using CNNs", CVPRW 2017).

The image encoder of `EmbeddingNet` (`sphembed.models.nets.backbone.image_encoder`, up to the 1D bottleneck) plus
a pose head of fully connected layers (ReLU + batch norm) regresses the canonical orientation of the object in the
image: the rotation R with which the view renders the aligned mesh (vertices R·v, DESIGN.md §3). The head outputs
the continuous 6D representation (Zhou et al. 2019), mapped to SO(3) by Gram-Schmidt (`matrix_from_6d`), so every
output is a proper rotation (det = +1, orthonormal) by construction. Relative pose of two views:
R̂_ab = R̂_b R̂_aᵀ.

Loss (Mahendran et al.'s schedule): for the first `warmup_steps` optimizer steps the RMSE of the matrix entries,
sqrt(mean_ij (R̂ - R)_ij^2), then the geodesic angle 2 arcsin(||R̂ - R||_F / (2 sqrt 2)) (radians; `chordal_angle`).
Checkable: rmse = ||R̂ - R||_F / 3 and geodesic = arccos((tr(R̂ᵀR) - 1)/2); both are 0 iff R̂ = R.
"""

import math

import keras
import tensorflow as tf

from sphembed.models.baselines.base import BaselineModel
from sphembed.models.layers.image import BN_MOMENTUM
from sphembed.models.nets.backbone import image_encoder
from sphembed.models.sphere.so3 import chordal_angle, matrix_from_6d

__all__ = ["rotation_rmse", "PoseRegressor"]


def rotation_rmse(R_true, R_pred):
    """Root mean square of the 9 entries of R_pred - R_true: float [batch] (= ||R_pred - R_true||_F / 3)."""
    with tf.name_scope("rotation_rmse"):
        R_pred = tf.convert_to_tensor(R_pred)
        R_true = tf.cast(tf.convert_to_tensor(R_true), R_pred.dtype)
        return tf.sqrt(tf.reduce_mean(tf.square(R_pred - R_true), axis=[-2, -1]) + 1e-12)


@keras.saving.register_keras_serializable(package="sphembed")
class PoseRegressor(BaselineModel):
    """Image -> canonical orientation: float32 [batch, H, H, c] -> rotation matrices [batch, 3, 3].

    Training (`fit`) takes dicts with "image" [batch, H, H, c] and "rotation" [batch, 3, 3] (the view's object pose).
    `relative_pose(images_a, images_b)` returns R̂_b R̂_aᵀ [batch, 3, 3].

    Args:
      image_size: int H (even, >= 4).
      image_channels: int c.
      latent_dim, base_filters, max_filters: the encoder's bottleneck and channels (1024, 64, 256 in the paper).
      head_units: hidden sizes of the pose head (Mahendran et al.: 1000, 500).
      warmup_steps: optimizer steps trained with the RMSE loss before switching to the geodesic loss.
    """

    def __init__(self, image_size, image_channels, latent_dim=1024, base_filters=64, max_filters=256,
                 head_units=(1000, 500), warmup_steps=0, **kwargs):
        kwargs.setdefault("name", "pose_regressor")
        super().__init__(**kwargs)
        self._config = dict(image_size=image_size, image_channels=image_channels, latent_dim=latent_dim,
                            base_filters=base_filters, max_filters=max_filters, head_units=list(head_units),
                            warmup_steps=int(warmup_steps))
        self.warmup_steps = int(warmup_steps)
        self.encoder = image_encoder(image_size, image_channels, latent_dim, base_filters, max_filters)
        head = []
        for i, units in enumerate(head_units):
            head += [keras.layers.Dense(units, use_bias=False, name=f"fc{i}"),
                     keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}"),
                     keras.layers.ReLU(name=f"relu{i}")]
        head.append(keras.layers.Dense(6, name="rotation_6d"))
        self.head = keras.Sequential(head, name="pose_head")

    METRICS = ("loss", "rmse", "geodesic_deg")

    def build(self, input_shape):
        self.encoder.build((None,) + tuple(input_shape[1:]))
        self.head.build((None, self._config["latent_dim"]))
        self.built = True

    def call(self, images, training=False):
        images = tf.convert_to_tensor(images)
        size, channels = self._config["image_size"], self._config["image_channels"]
        if images.shape.rank != 4 or tuple(images.shape[1:]) != (size, size, channels):
            raise ValueError(f"images must have shape [batch, {size}, {size}, {channels}], got {images.shape}")
        return matrix_from_6d(self.head(self.encoder(images, training=training), training=training))

    def relative_pose(self, images_a, images_b):
        """R̂_ab = R̂_b R̂_aᵀ [batch, 3, 3] from the regressed orientations of two image batches."""
        with tf.name_scope("regression_relative_pose"):
            return tf.linalg.matmul(self(images_b), self(images_a), transpose_b=True)

    def compute_losses(self, data, training=False):
        """Scalars of a batch: loss (the RMSE before warmup_steps, the geodesic angle after), rmse, geodesic_deg."""
        R = self(data["image"], training=training)
        rmse = tf.reduce_mean(rotation_rmse(data["rotation"], R))
        geodesic = tf.reduce_mean(chordal_angle(R, tf.cast(data["rotation"], R.dtype)))
        warm = tf.cast(self.optimizer.iterations, tf.int64) < self.warmup_steps
        return {"loss": tf.where(warm, rmse, geodesic), "rmse": rmse, "geodesic_deg": geodesic * (180.0 / math.pi)}

    def get_config(self):
        return {**super().get_config(), **self._config}
