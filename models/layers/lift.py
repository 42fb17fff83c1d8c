"""`ImageToSphere`: a view resampled onto the sphere grid (equidistant polar lift), and `CosTheta`, the colatitude
channel (the layers of `sphembed.models.nets.lifted.LiftedEmbeddingNet`).

Grid point (theta, phi) of the 2B x 2B grid reads the image [batch, H, H, c] bilinearly at radius
(H/2) min(theta, pi - theta) / (pi/2) from its centre and angle phi counterclockwise from the image's +x (right)
axis, y up. A view turned by 2 pi k / (2B) is the lifted map rolled by k along phi (exactly for quarter turns, which
permute pixels; tests/models/layers/test_lift.py).
"""

import keras
import numpy as np
import tensorflow as tf

__all__ = ["polar_lift_coordinates", "ImageToSphere", "CosTheta"]


def polar_lift_coordinates(bandwidth, image_size):
    """Image coordinates (row, col) [2B, 2B] read by each sphere grid point (array indices, pixel centres at
    integers): radius (H/2) min(theta, pi - theta) / (pi/2) from the image centre, angle phi from +x, y up."""
    n, H = 2 * bandwidth, image_size
    theta = np.pi * (2 * np.arange(n) + 1) / (2 * n)
    phi = 2 * np.pi * np.arange(n) / n
    t, p = np.meshgrid(theta, phi, indexing="ij")
    radius = (H / 2) * np.minimum(t, np.pi - t) / (np.pi / 2)
    return H / 2 - radius * np.sin(p) - 0.5, H / 2 + radius * np.cos(p) - 0.5


def _bilinear_taps(rows, cols, size):
    """Flat pixel indices int32 [N, 4] and weights float32 [N, 4] of bilinear reads (zero outside the image)."""
    r0, c0 = np.floor(rows).ravel(), np.floor(cols).ravel()
    rows, cols = rows.ravel(), cols.ravel()
    index, weight = [], []
    for dr in (0, 1):
        for dc in (0, 1):
            r, c = r0 + dr, c0 + dc
            inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            index.append(np.where(inside, r * size + c, 0))
            weight.append(np.where(inside, (1 - np.abs(rows - r)) * (1 - np.abs(cols - c)), 0))
    return np.stack(index, -1).astype(np.int32), np.stack(weight, -1).astype(np.float32)


@keras.saving.register_keras_serializable(package="sphembed")
class ImageToSphere(keras.layers.Layer):
    """Square images [batch, H, H, c] -> sphere grid [batch, 2B, 2B, c + 1] (bilinear polar lift + cos(theta)).

    Args:
      bandwidth: int B of the lifted grid.
    """

    def __init__(self, bandwidth, **kwargs):
        super().__init__(**kwargs)
        self.bandwidth = int(bandwidth)
        if self.bandwidth < 2 or self.bandwidth % 2:
            raise ValueError(f"bandwidth must be an even int >= 2 (quarter turns are then exact rolls), got {bandwidth}")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[1] != input_shape[2]:
            raise ValueError(f"{self.name}: images must be [batch, H, H, c] with a known H, got {input_shape}")
        n = 2 * self.bandwidth
        index, weight = _bilinear_taps(*polar_lift_coordinates(self.bandwidth, input_shape[1]), input_shape[1])
        self._index, self._weight = tf.constant(index), tf.constant(weight)[None, :, :, None]
        theta = np.pi * (2 * np.arange(n) + 1) / (2 * n)
        self._cos_theta = tf.constant(np.cos(theta).astype(np.float32))[None, :, None, None]

    def compute_output_shape(self, input_shape):
        n = 2 * self.bandwidth
        return (input_shape[0], n, n, input_shape[3] + 1)

    def call(self, images):
        n, c = 2 * self.bandwidth, images.shape[-1]
        flat = tf.reshape(images, [tf.shape(images)[0], -1, c])
        taps = tf.gather(flat, self._index, axis=1)  # [batch, n * n, 4, c]
        lifted = tf.reshape(tf.reduce_sum(taps * tf.cast(self._weight, images.dtype), axis=2), [-1, n, n, c])
        cos_theta = tf.zeros_like(lifted[..., :1]) + tf.cast(self._cos_theta, images.dtype)
        return tf.concat([lifted, cos_theta], axis=-1)

    def get_config(self):
        return {**super().get_config(), "bandwidth": self.bandwidth}


@keras.saving.register_keras_serializable(package="sphembed")
class CosTheta(keras.layers.Layer):
    """Appends the channel cos(theta_j) to sphere-grid features [batch, 2b, 2b, C] -> [batch, 2b, 2b, C + 1]."""

    def call(self, x):
        n = x.shape[1]
        cos_theta = np.cos(np.pi * (2 * np.arange(n) + 1) / (2 * n)).astype(np.float32)[None, :, None, None]
        return tf.concat([x, tf.zeros_like(x[..., :1]) + tf.cast(cos_theta, x.dtype)], axis=-1)
