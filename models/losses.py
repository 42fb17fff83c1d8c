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
    symmetric in (p, t). A training metric of predictions against targets, not an equivariance measure.
  * equivariance error: ||got - expected|| / ||expected|| (L2 over everything given), the one measure of how far a
    network is from equivariance (spherical CNN in train-sphcnn's report, embedding in eval-embedding): got = the
    output for the rotated input, expected = the rotated output. 0 when both are 0; scale-invariant.
  * channel scale (the Keras losses' `channel_scale` s [C]): the loss of (p / s, t / s), i.e. every channel
    measured in units of its own spread, so that channels whose rotation-dependent part is small are fitted as
    well as the large ones (`channel_rms` gives s from a split's targets).
  * The synthesizer's pixel loss is L1 (`keras.losses.MeanAbsoluteError`, used as is).
"""

import keras
import numpy as np
import tensorflow as tf

from sphembed.models.sphere.grids import area_weights
from sphembed.models.sphere.shapes import bandwidth_of

__all__ = [
    "area_weighted_huber",
    "spherical_mean",
    "centered_area_weighted_huber",
    "relative_error",
    "equivariance_error",
    "AreaWeightedHuber",
    "CenteredAreaWeightedHuber",
    "RelativeError",
    "channel_rms",
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


def equivariance_error(got, expected):
    """||got - expected|| / ||expected|| over all elements (module docstring): a Python float.

    Args:
      got: float [...], e.g. [batch, 2b, 2b, C], the network's output for rotated inputs.
      expected: float, same shape: the rotated outputs.

    Returns:
      float >= 0; 0 when both are identically 0 (e.g. a feature map with all ReLUs off), inf when only `expected` is.
    """
    got, expected = tf.convert_to_tensor(got), tf.convert_to_tensor(expected)
    if got.shape != expected.shape:
        raise ValueError(f"got {got.shape} and expected {expected.shape} must have the same shape")
    diff, ref = float(tf.norm(tf.cast(got - expected, tf.float64))), float(tf.norm(tf.cast(expected, tf.float64)))
    if ref == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / ref


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


def channel_rms(targets):
    """Per-channel RMS of the rotation-dependent part of sphere maps: targets [n, 2B, 2B, C] -> float64 [C].

    s_c = sqrt(mean_{n,j,k} w_j (t - m(t))^2) with m the per-example spherical mean (`spherical_mean`) and w_j the
    area weights (mean 1): the spread that the SO(3) correlation sees. Channels that are constant over the sphere
    (s_c at round-off of their values) get s_c = 1 (nothing to scale).
    """
    t = np.asarray(targets, np.float64)
    w = area_weights(bandwidth_of(t, "targets"), "float64")[None, :, None, None]
    centered = t - (w * t).mean(axis=(1, 2), keepdims=True)
    rms = np.sqrt((w * centered ** 2).mean(axis=(0, 1, 2)))
    return np.where(rms > 1e-6 * (np.abs(t).max(axis=(0, 1, 2)) + 1e-30), rms, 1.0)


@keras.saving.register_keras_serializable(package="sphembed")
class AreaWeightedHuber(keras.losses.Loss):
    """Keras loss wrapping `area_weighted_huber` (paper eq. 5-6; delta = 1 by default).

    channel_scale: optional per-channel scale s [C]; the loss is then that of (y_true / s, y_pred / s).
    """

    def __init__(self, delta=1.0, channel_scale=None, name="area_weighted_huber", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = float(delta)
        self.channel_scale = None if channel_scale is None else [float(v) for v in channel_scale]
        if self.channel_scale is not None and min(self.channel_scale) <= 0:
            raise ValueError(f"channel_scale must be positive, got min {min(self.channel_scale)}")

    def _scaled(self, y_true, y_pred):
        if self.channel_scale is None:
            return y_true, y_pred
        y_pred = tf.convert_to_tensor(y_pred)
        s = tf.constant(self.channel_scale, y_pred.dtype)
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != len(self.channel_scale):
            raise ValueError(f"channel_scale has {len(self.channel_scale)} entries for {y_pred.shape[-1]} channels")
        return tf.cast(y_true, y_pred.dtype) / s, y_pred / s

    def call(self, y_true, y_pred):
        return area_weighted_huber(*self._scaled(y_true, y_pred), self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta, "channel_scale": self.channel_scale}


@keras.saving.register_keras_serializable(package="sphembed")
class CenteredAreaWeightedHuber(AreaWeightedHuber):
    """Keras loss wrapping `centered_area_weighted_huber` (the area-weighted Huber loss without degree 0)."""

    def __init__(self, delta=1.0, channel_scale=None, name="centered_area_weighted_huber",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(delta=delta, channel_scale=channel_scale, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return centered_area_weighted_huber(*self._scaled(y_true, y_pred), self.delta)


EMBEDDING_LOSSES = {"huber": AreaWeightedHuber, "centered-huber": CenteredAreaWeightedHuber}


def embedding_loss(name, channel_scale=None):
    """The embedding loss named `name` (a key of EMBEDDING_LOSSES), delta = 1, optionally per-channel scaled.

    Raises:
      ValueError: for an unknown name.
    """
    if name not in EMBEDDING_LOSSES:
        raise ValueError(f"loss must be one of {sorted(EMBEDDING_LOSSES)}, got {name!r}")
    return EMBEDDING_LOSSES[name](channel_scale=channel_scale)


@keras.saving.register_keras_serializable(package="sphembed")
class RelativeError(keras.metrics.MeanMetricWrapper):
    """Keras metric: running mean of `relative_error` over examples."""

    def __init__(self, eps=1e-6, name="relative_error", dtype=None):
        super().__init__(relative_error, name=name, dtype=dtype, eps=eps)
        self.eps = float(eps)

    def get_config(self):
        return {"eps": self.eps, "name": self.name, "dtype": self.dtype}
