"""Losses and metrics of the embedding and synthesis networks (DESIGN.md §3-4; paper eq. 5-6).

Sphere maps are `[batch, 2B, 2B, C]`, axis 1 is theta (north->south), axis 2 is phi.

Properties (checked in tests/test_losses.py):
  * area-weighted Huber: loss = mean_{j,k,c} w_j huber_delta(p - t) with w_j = `area_weights(B)[j]` (proportional to
    sin theta_j, mean 1), so a residual that is constant over the sphere gives exactly the plain Huber value;
    huber_delta(x) = x^2 / 2 for |x| <= delta, delta (|x| - delta / 2) otherwise (delta = 1 in the paper).
  * centered area-weighted Huber: the area-weighted Huber loss of the residual after removing each channel's
    area-weighted spherical mean from both maps, i.e. of r = (p - m(p)) - (t - m(t)), m_c(f) = mean_{j,k} w_j f_jkc.
    Adding a constant per example and channel to either map leaves it unchanged; it is 0 iff p - t is constant over
    the sphere per channel. The mean is the degree-0 (rotation-invariant) part, which the SO(3) correlation of pose
    estimation ignores (it adds a constant to C(R)).
  * relative error: mean(|p - t| / (|p| + |t| + eps)), in [0, 1); 0 iff p = t; 1 - O(eps) when p = 0 != t;
    symmetric in (p, t).
  * The synthesizer's pixel loss is L1 (`keras.losses.MeanAbsoluteError`, used as is).
"""

import keras
import tensorflow as tf

from sphembed.models.grids import area_weights, bandwidth_of

__all__ = [
    "area_weighted_huber",
    "spherical_mean",
    "centered_area_weighted_huber",
    "relative_error",
    "AreaWeightedHuber",
    "CenteredAreaWeightedHuber",
    "RelativeError",
    "EMBEDDING_LOSSES",
    "embedding_loss",
]


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


def spherical_mean(f):
    """Area-weighted mean of each channel over the sphere: f float [batch, 2B, 2B, C] -> [batch, 1, 1, C].

    m_c = mean_{j,k} w_j f_jkc with w_j = `area_weights(B)[j]` (mean 1): the degree-0 coefficient of channel c times
    Y_0^0 = 1 / sqrt(4 pi), up to the quadrature error of the equiangular grid.
    """
    f = tf.convert_to_tensor(f)
    w = tf.constant(area_weights(bandwidth_of(f, "f")), dtype=f.dtype)[:, None, None]
    return tf.reduce_mean(w * f, axis=[-3, -2], keepdims=True)


def centered_area_weighted_huber(y_true, y_pred, delta=1.0):
    """Per-example area-weighted Huber loss of the residual without its per-channel spherical mean.

    loss = mean_{j,k,c} w_j huber_delta(r_jkc), r = (p - m(p)) - (t - m(t)) = (p - t) - m(p - t), with m the
    area-weighted spherical mean of each channel (`spherical_mean`) and w_j = `area_weights(B)[j]` (mean 1).
    Only the rotation-dependent part (degrees l >= 1) of the maps is fitted; the per-category invariant part
    (l = 0, most of the power of deep spherical-CNN features) is free.

    Args:
      y_true: float [batch, 2B, 2B, C]; axis 1 is theta (north->south), axis 2 is phi.
      y_pred: float [batch, 2B, 2B, C], same shape.
      delta: float > 0, the Huber breakpoint.

    Returns:
      float [batch].

    Raises:
      ValueError: if the shapes differ or are not sphere maps, or delta <= 0.
    """
    with tf.name_scope("centered_area_weighted_huber"):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
        if y_true.shape.rank != y_pred.shape.rank or not y_true.shape[1:].is_compatible_with(y_pred.shape[1:]):
            raise ValueError(f"y_true must have the shape of y_pred {y_pred.shape}, got {y_true.shape}")
        return area_weighted_huber(y_true, y_pred - spherical_mean(y_pred - y_true), delta)


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
class CenteredAreaWeightedHuber(AreaWeightedHuber):
    """Keras loss wrapping `centered_area_weighted_huber` (the area-weighted Huber loss without degree 0)."""

    def __init__(self, delta=1.0, name="centered_area_weighted_huber", reduction="sum_over_batch_size", dtype=None):
        super().__init__(delta=delta, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return centered_area_weighted_huber(y_true, y_pred, self.delta)


EMBEDDING_LOSSES = {"huber": AreaWeightedHuber, "centered-huber": CenteredAreaWeightedHuber}


def embedding_loss(name):
    """The EmbeddingNet loss named `name` (a key of EMBEDDING_LOSSES), delta = 1.

    Raises:
      ValueError: for an unknown name.
    """
    if name not in EMBEDDING_LOSSES:
        raise ValueError(f"loss must be one of {sorted(EMBEDDING_LOSSES)}, got {name!r}")
    return EMBEDDING_LOSSES[name]()


@keras.saving.register_keras_serializable(package="sphembed")
class RelativeError(keras.metrics.MeanMetricWrapper):
    """Keras metric: running mean of `relative_error` over examples."""

    def __init__(self, eps=1e-6, name="relative_error", dtype=None):
        super().__init__(relative_error, name=name, dtype=dtype, eps=eps)
        self.eps = float(eps)

    def get_config(self):
        return {"eps": self.eps, "name": self.name, "dtype": self.dtype}
