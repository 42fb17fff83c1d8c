"""Losses and metrics of the embedding and synthesis networks (DESIGN.md §3-4; paper eq. 5-6).

Sphere maps are `[batch, 2B, 2B, C]`, axis 1 is theta (north->south), axis 2 is phi.

Properties (checked in tests/test_losses.py):
  * area-weighted Huber: loss = mean_{j,k,c} w_j huber_delta(p - t) with w_j = `area_weights(B)[j]` (proportional to
    sin theta_j, mean 1), so a residual that is constant over the sphere gives exactly the plain Huber value;
    huber_delta(x) = x^2 / 2 for |x| <= delta, delta (|x| - delta / 2) otherwise (delta = 1 in the paper).
  * relative error: mean(|p - t| / (|p| + |t| + eps)), in [0, 1); 0 iff p = t; 1 - O(eps) when p = 0 != t;
    symmetric in (p, t).
  * The synthesizer's pixel loss is L1 (`keras.losses.MeanAbsoluteError`, used as is).
"""

import keras
import tensorflow as tf

from sphembed.models.grids import area_weights, bandwidth_of

__all__ = ["area_weighted_huber", "relative_error", "AreaWeightedHuber", "RelativeError"]


def area_weighted_huber(y_true, y_pred, delta=1.0):
    """Per-example area-weighted Huber loss on sphere maps.

    Args:
      y_true: float [batch, 2B, 2B, C]; axis 1 is theta (north->south), axis 2 is phi.
      y_pred: float [batch, 2B, 2B, C], same shape.
      delta: float > 0, the Huber breakpoint.

    Returns:
      float [batch]: mean_{j,k,c} w_j huber_delta(y_pred - y_true), w_j = area_weights(B)[j] (mean 1).

    Raises:
      ValueError: if the shapes differ or are not sphere maps, or delta <= 0.
    """
    if delta <= 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    with tf.name_scope("area_weighted_huber"):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
        B = bandwidth_of(y_pred, "y_pred")
        if y_true.shape.rank != y_pred.shape.rank or not y_true.shape[1:].is_compatible_with(y_pred.shape[1:]):
            raise ValueError(f"y_true must have the shape of y_pred {y_pred.shape}, got {y_true.shape}")
        x = tf.abs(y_pred - y_true)
        quadratic = tf.minimum(x, delta)
        huber = 0.5 * tf.square(quadratic) + delta * (x - quadratic)
        w = tf.constant(area_weights(B), dtype=y_pred.dtype)[:, None, None]
        return tf.reduce_mean(w * huber, axis=[-3, -2, -1])


def relative_error(y_true, y_pred, eps=1e-6):
    """Per-example relative error mean(|p - t| / (|p| + |t| + eps)) over all non-batch axes.

    Args:
      y_true: float [batch, ...].
      y_pred: float [batch, ...], same shape.
      eps: float > 0, keeps 0/0 at 0.

    Returns:
      float [batch], each in [0, 1).
    """
    with tf.name_scope("relative_error"):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
        if y_true.shape.rank != y_pred.shape.rank or not y_true.shape[1:].is_compatible_with(y_pred.shape[1:]):
            raise ValueError(f"y_true must have the shape of y_pred {y_pred.shape}, got {y_true.shape}")
        ratio = tf.abs(y_pred - y_true) / (tf.abs(y_pred) + tf.abs(y_true) + eps)
        return tf.reduce_mean(tf.reshape(ratio, [tf.shape(ratio)[0], -1]), axis=-1)


@keras.saving.register_keras_serializable(package="sphembed")
class AreaWeightedHuber(keras.losses.Loss):
    """Keras loss wrapping `area_weighted_huber` (paper eq. 5-6; delta = 1 by default)."""

    def __init__(self, delta=1.0, name="area_weighted_huber", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        return area_weighted_huber(y_true, y_pred, self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


@keras.saving.register_keras_serializable(package="sphembed")
class RelativeError(keras.metrics.MeanMetricWrapper):
    """Keras metric: running mean of `relative_error` over examples."""

    def __init__(self, eps=1e-6, name="relative_error", dtype=None):
        super().__init__(relative_error, name=name, dtype=dtype, eps=eps)
        self.eps = float(eps)

    def get_config(self):
        return {"eps": self.eps, "name": self.name, "dtype": self.dtype}
