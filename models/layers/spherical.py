"""Keras 3 layers on sphere maps (DESIGN.md §3): spectral convolution, pooling, batch norm, global average.

Maps are float32 `[batch, 2B, 2B, C]` on the equiangular grid of bandwidth B (axis 1 theta north->south, axis 2
phi). Every layer is registered with Keras (package "sphembed"), implements get_config and round-trips through the
.keras format. Tables are built once per (L, K) / B (functools.lru_cache) and attached in build().

Properties (checked in tests/test_layers_spherical.py; Lambda_R is `rotate_map(f, R)`):
  * SphericalConv is linear and exactly equivariant: SphericalConv(Lambda_R f) = Lambda_R SphericalConv(f) for
    every R and every f (its output is band-limited to l < L, and it only scales coefficients per degree).
  * 1x1 channel mixing, per-channel affine maps (batch norm at inference) and pointwise nonlinearities commute
    with rotations of band-limited maps up to the aliasing of the nonlinearity.
  * SphericalGlobalAverage(Lambda_R f) = SphericalGlobalAverage(f) exactly for f band-limited to l < B
    (Driscoll-Healy quadrature), and equals the mean of f over the sphere.
  * SphericalAveragePool maps bandwidth B to B/2 on the DESIGN grid, preserves constants, commutes with
    longitude shifts by 2 pixels (1 output pixel) and with the reflection phi -> -phi.
"""

import functools

import keras
import numpy as np
import tensorflow as tf

from sphembed.models.sphere.grids import area_weights, quadrature_weights
from sphembed.models.sphere.harmonics import isht, sht
from sphembed.models.sphere.shapes import bandwidth_of, check_bandwidth

__all__ = [
    "SphericalConv",
    "SphericalAveragePool",
    "SphericalBatchNormalization",
    "SphericalGlobalAverage",
    "anchor_interpolation",
]

_PACKAGE = "sphembed"


def _grid_bandwidth(input_shape, name="inputs"):
    """B of a map shape [batch, 2B, 2B, C]; ValueError naming `name` and the shape otherwise."""
    shape = tf.TensorShape(input_shape)
    if shape.rank != 4 or shape[-1] is None:
        raise ValueError(f"{name} must have shape [batch, 2B, 2B, C] with known C, got {list(shape)}")
    return bandwidth_of(_Shaped(shape), name)


class _Shaped:
    """A stand-in with a `.shape`, for bandwidth_of on static shapes."""

    def __init__(self, shape):
        self.shape = shape


@functools.lru_cache(maxsize=None)
def _interp_np(L, K):
    """Hat functions W[k, l] of K anchors at l_k = k (L-1) / (K-1) evaluated at l = 0..L-1, float64 [K, L]."""
    W = np.zeros((K, L))
    if L == 1 or K == 1:
        W[0] = 1.0
    else:
        positions = np.linspace(0.0, L - 1.0, K)
        for k in range(K):
            W[k] = np.interp(np.arange(L), positions, np.eye(K)[k])
    W.setflags(write=False)
    return W


def anchor_interpolation(L, num_anchors, dtype="float32"):
    """Linear interpolation over degree from anchors: [K, L]; spectrum[l] = sum_k anchors[k] W[k, l].

    Anchors sit at l_k = k (L-1)/(K-1), so W[k, l_k] = 1, each column sums to 1, and a spectrum that is linear
    in l between anchors is reproduced exactly.

    Raises:
      ValueError: if L < 1 or num_anchors < 1.
    """
    check_bandwidth(L, L)
    if not isinstance(num_anchors, (int, np.integer)) or num_anchors < 1:
        raise ValueError(f"num_anchors must be a positive integer, got {num_anchors!r}")
    return tf.constant(_interp_np(int(L), int(num_anchors)), dtype=dtype)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SphericalConv(keras.layers.Layer):
    """Spectral spherical convolution with localized zonal filters, Cin -> Cout channels.

    out_d = sum_c f_c * h_{c,d}, with (f * h)^l_m = 2 pi sqrt(4 pi / (2l+1)) f^l_m h^l_0 (DESIGN.md §3). The
    layer learns the per-degree gain g_{c,d}(l) = 2 pi sqrt(4 pi / (2l+1)) h^l_{c,d,0} at `num_anchors`
    degrees and interpolates it linearly over l (a smooth spectrum = a spatially localized filter); the zonal
    filter is h^l_0 = g(l) sqrt((2l+1) / (4 pi)) / (2 pi), and g = 1 is the identity (a delta filter).
    Computed as sht (real basis, degrees l < L) -> einsum "bclm,cdl->bdlm" -> isht on the input grid, plus a
    bias per output channel (degree 0 only, so rotation-invariant).

    Args:
      filters: int, output channels Cout.
      num_anchors: int K >= 1, anchor degrees per (c, d) pair (default 4).
      L: optional int <= B, degree band-limit (default B of the input).
      use_bias: add a learned constant per output channel.
      kernel_initializer, kernel_regularizer, bias_initializer: Keras initializers/regularizers; the kernel
        (the anchors) has shape [K, Cin, Cout] so "he_normal" scales by fan-in K * Cin.

    Input: float32 [batch, 2B, 2B, Cin]. Output: float32 [batch, 2B, 2B, Cout], band-limited to l < L.
    """

    def __init__(self, filters, num_anchors=4, L=None, use_bias=True, kernel_initializer="he_normal",
                 kernel_regularizer=None, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_anchors = int(num_anchors)
        self.L = None if L is None else int(L)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        B = _grid_bandwidth(input_shape)
        L = B if self.L is None else self.L
        check_bandwidth(B, L)
        self.bandwidth, self.degrees = B, L
        cin = int(input_shape[-1])
        self.kernel = self.add_weight(name="anchors", shape=(self.num_anchors, cin, self.filters),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
                     if self.use_bias else None)
        self._interp = anchor_interpolation(L, self.num_anchors, self.compute_dtype)

    def spectrum(self):
        """Per-degree gains g_{c,d}(l): [Cin, Cout, L]."""
        return tf.einsum("kcd,kl->cdl", self.kernel, self._interp)

    def call(self, inputs):
        flm = sht(inputs, self.degrees, basis="real")  # [batch, Cin, L, 2L-1]
        out = isht(tf.einsum("bclm,cdl->bdlm", flm, self.spectrum()), self.bandwidth, basis="real")
        return out + self.bias if self.use_bias else out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "num_anchors": self.num_anchors, "L": self.L,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@functools.lru_cache(maxsize=None)
def _pair_weights_np(B):
    """Area weights of rows (2i, 2i+1), normalized per pair: float64 [B, 2]."""
    w = area_weights(B, "float64").reshape(B, 2)
    w = w / w.sum(axis=1, keepdims=True)
    w.setflags(write=False)
    return w


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SphericalAveragePool(keras.layers.Layer):
    """Area-weighted 2x downsampling: bandwidth B -> B/2 on the DESIGN grid.

    Along theta, rows 2i and 2i+1 are averaged with weights proportional to sin(theta) (the areas of their
    cells): their midpoint pi (4i+2) / (4B) = pi (2i+1) / (4 (B/2)) is exactly theta_i of the B/2 grid; the
    weights move the centroid of the average toward the equator by a fraction of a fine row that grows near the
    poles (half a row at the first row), a first-order error there. Along phi, a 2-pixel box would
    sit at phi_{2k} + pi/(2B), half a fine pixel east of phi_k of the B/2 grid (= phi_{2k}); the layer instead
    averages columns (2k-1, 2k, 2k+1) with weights (1/4, 1/2, 1/4) (circularly), the mean of the two 2-pixel
    boxes around phi_{2k}, which is centred on the coarse grid.

    Input: [batch, 2B, 2B, C] with B even. Output: [batch, B, B, C].
    """

    def build(self, input_shape):
        B = _grid_bandwidth(input_shape)
        if B % 2:
            raise ValueError(f"SphericalAveragePool needs an even bandwidth B (2B divisible by 4), got inputs "
                             f"shape {list(input_shape)}")
        self.bandwidth = B
        self._weights = tf.constant(_pair_weights_np(B)[None, :, :, None, None], dtype=self.compute_dtype)

    def call(self, inputs):
        B = self.bandwidth
        x = tf.reshape(inputs, [-1, B, 2, 2 * B, inputs.shape[-1]])
        x = tf.reduce_sum(x * self._weights, axis=2)  # [batch, B, 2B, C]
        x = 0.5 * x + 0.25 * (tf.roll(x, 1, axis=2) + tf.roll(x, -1, axis=2))
        return x[:, :, ::2]

    def compute_output_shape(self, input_shape):
        B = _grid_bandwidth(input_shape)
        return (input_shape[0], B, B, input_shape[-1])


def _quadrature_over_4pi(B, dtype):
    """Row weights q_j / (4 pi) with sum over the 2B x 2B grid = 1, as a [2B, 1, 1] tensor."""
    q = quadrature_weights(B, "float64") / (4 * np.pi)
    return tf.constant(q[:, None, None], dtype=dtype)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SphericalBatchNormalization(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization whose batch moments are sphere averages (quadrature-weighted).

    The mean and variance of channel c are sum_{b,j,k} q_j x / (4 pi N) instead of a plain mean over grid
    samples, which over-counts the poles; they are then rotation-invariant for band-limited maps. At inference
    the layer is a per-channel affine map (commutes with rotations exactly). Overrides Keras' `_moments` hook;
    all other behaviour (moving averages, config, serialization) is Keras'.

    Input and output: [batch, 2B, 2B, C] (axis -1 normalized).
    """

    def build(self, input_shape):
        self._q = _quadrature_over_4pi(_grid_bandwidth(input_shape), "float32")
        super().build(input_shape)

    def _moments(self, inputs, mask):
        if mask is not None:
            raise ValueError("SphericalBatchNormalization does not support masks")
        q = tf.cast(self._q, inputs.dtype)
        n = tf.cast(tf.shape(inputs)[0], inputs.dtype)
        mean = tf.reduce_sum(inputs * q, axis=[0, 1, 2]) / n
        variance = tf.reduce_sum(tf.square(inputs - mean) * q, axis=[0, 1, 2]) / n
        return mean, variance


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SphericalGlobalAverage(keras.layers.Layer):
    """Mean over the sphere of each channel: (1 / 4 pi) int f_c dw by Driscoll-Healy quadrature.

    Exact (and so rotation-invariant) for maps band-limited to l < B.

    Input: [batch, 2B, 2B, C]. Output: [batch, C].
    """

    def build(self, input_shape):
        self._q = _quadrature_over_4pi(_grid_bandwidth(input_shape), self.compute_dtype)

    def call(self, inputs):
        return tf.reduce_sum(inputs * self._q, axis=[1, 2])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
