"""Spherical Keras layers: definition checks against quadrature references, equivariance, serialization."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import eval_legendre

from sphembed.models.sphere.grids import quadrature_weights, sphere_grid, sphere_points
from sphembed.models.sphere.rotations import rotate_map
from sphembed.models.sphere.harmonics import sht
from sphembed.models.layers.spherical import (
    SphericalAveragePool,
    SphericalBatchNormalization,
    SphericalConv,
    SphericalGlobalAverage,
    anchor_interpolation,
)

TOL32 = 1e-4  # tests/conftest.py TOL["float32"]: float32 transforms measured ~2e-6 relative at B <= 16


def _maps(sphere_signals, rng, B, L, batch=2, channels=3):
    return sphere_signals.grid_map(sphere_signals.random_flm(rng, L, (batch, channels)), B).astype("float32")


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def test_anchor_interpolation_preset():
    W = anchor_interpolation(7, 4, "float64").numpy()  # anchors at l = 0, 2, 4, 6
    np.testing.assert_allclose(W.sum(axis=0), np.ones(7), atol=1e-12)
    np.testing.assert_allclose(W[:, [0, 2, 4, 6]], np.eye(4), atol=1e-12)
    np.testing.assert_allclose(np.array([1.0, 3.0, 5.0, 7.0]) @ W, np.arange(1.0, 8.0), atol=1e-12)  # linear in l
    np.testing.assert_allclose(anchor_interpolation(1, 3, "float64").numpy(), [[1.0], [0.0], [0.0]])


def test_spherical_conv_matches_funk_hecke_quadrature(rng, sphere_signals):
    # (f * h)(w) = 2 pi int f(u) h(w . u) du for zonal h (DESIGN.md §3 normalization, Funk-Hecke), evaluated by
    # Driscoll-Healy quadrature: exact because f h has degree < 2L - 1 <= B.
    B, L, cin, cout = 8, 4, 2, 3
    x = _maps(sphere_signals, rng, B, L, batch=1, channels=cin)
    conv = SphericalConv(cout, num_anchors=L, L=L, use_bias=False)
    conv.build(x.shape)
    g = rng.normal(size=(L, cin, cout))  # with K = L anchors sit at every degree: the anchors ARE g(l)
    conv.kernel.assign(g.astype("float32"))
    l = np.arange(L)
    h0 = g * (np.sqrt((2 * l + 1) / (4 * np.pi)) / (2 * np.pi))[:, None, None]  # h^l_0 per (c, d)
    pts = sphere_points(B).reshape(-1, 3)
    q = np.repeat(quadrature_weights(B, "float64"), 2 * B)
    t = pts @ pts.T  # w . u
    legendre = np.stack([eval_legendre(k, t) * np.sqrt((2 * k + 1) / (4 * np.pi)) for k in l])  # Y_l^0 of angle
    h = np.einsum("lcd,lwu->cdwu", h0, legendre)
    ref = 2 * np.pi * np.einsum("cdwu,u,uc->wd", h, q, x[0].reshape(-1, cin).astype("float64"))
    np.testing.assert_allclose(conv(x)[0].numpy().reshape(-1, cout), ref, atol=TOL32 * np.abs(ref).max())


def test_spherical_conv_output_is_band_limited_and_bias_is_constant(rng, sphere_signals):
    B, L = 8, 5
    x = _maps(sphere_signals, rng, B, B)
    conv = SphericalConv(2, L=L)
    conv.build(x.shape)
    conv.bias.assign(np.array([0.7, -1.3], "float32"))  # different nonzero constants per channel
    y = conv(x).numpy()
    # The bias is the learned constant per channel: the same layer without bias (same kernel) differs by exactly
    # the bias at every pixel (one float32 addition: round-off <= eps32 |y|, checked at TOL32).
    no_bias = SphericalConv(2, L=L, use_bias=False)
    no_bias.build(x.shape)
    no_bias.kernel.assign(conv.kernel)
    y0 = no_bias(x).numpy()
    np.testing.assert_allclose(y - y0, np.broadcast_to([0.7, -1.3], y.shape), atol=TOL32 * np.abs(y).max())
    # Degrees >= L are zero (the filter has L degrees; the bias is degree 0).
    coeffs = sht(tf.constant(y, tf.float64), basis="real").numpy()
    assert np.abs(coeffs[..., L:, :]).max() < TOL32 * np.abs(coeffs).max()


@pytest.mark.parametrize("make_layer", [
    lambda: SphericalConv(4, num_anchors=3),
    lambda: SphericalConv(4, L=5),
    lambda: keras.layers.Conv2D(4, 1),
    lambda: SphericalBatchNormalization(beta_initializer="random_normal", gamma_initializer="random_normal"),
], ids=["sphconv", "sphconv_L5", "conv1x1", "batchnorm_inference"])
def test_linear_layers_commute_with_rotations(rng, make_layer, sphere_signals):
    B = 8
    x = _maps(sphere_signals, rng, B, B)
    R = sphere_signals.random_rotations(rng, 2).astype("float32")
    layer = make_layer()
    y = layer(x)
    np.testing.assert_allclose(layer(rotate_map(x, R)).numpy(), rotate_map(y, R).numpy(),
                               atol=TOL32 * np.abs(y).max())
    shifted = layer(np.roll(x, 3, axis=2)).numpy()  # phi-shift by 3 pixels: an exact grid rotation
    np.testing.assert_allclose(shifted, np.roll(y, 3, axis=2), atol=TOL32 * np.abs(y).max())


def test_global_average_is_sphere_mean_and_invariant(rng, sphere_signals):
    B = 8
    flm = sphere_signals.random_flm(rng, B, (2, 3))
    x = sphere_signals.grid_map(flm, B).astype("float32")
    pool = SphericalGlobalAverage()
    mean = flm[..., 0, B - 1].real / np.sqrt(4 * np.pi)  # f^0_0 Y_0^0
    np.testing.assert_allclose(pool(x).numpy(), mean, atol=TOL32)
    R = sphere_signals.random_rotations(rng, 2).astype("float32")
    np.testing.assert_allclose(pool(rotate_map(x, R)).numpy(), mean, atol=TOL32)


def test_average_pool_stays_on_the_grid(rng, sphere_signals):
    B = 16
    pool = SphericalAveragePool()
    np.testing.assert_allclose(pool(np.full((1, 2 * B, 2 * B, 2), 3.0, "float32")).numpy(), 3.0, rtol=1e-6)
    flm = sphere_signals.random_flm(rng, 3, (1, 1))  # degrees < 3: smooth at the grid scale
    fine, coarse = sphere_signals.grid_map(flm, B).astype("float32"), sphere_signals.grid_map(flm, B // 2)
    band = np.abs(np.cos(sphere_grid(B // 2, "float64")[0])) < 0.75  # away from the poles, see the layer doc
    err = np.abs(pool(fine).numpy() - coarse)[0, band]
    # Second-order (midpoint) error of a 2-pixel average of a degree-2 map, ~(pi / 2B)^2 l(l+1) |f|: measured
    # 1.2e-2 to 2.4e-2 of max|f| at B = 16; a plain 2-pixel box along phi (half a pixel off the grid) measures
    # 7.5e-2 to 1.3e-1.
    assert err.max() < 4e-2 * np.abs(coarse).max()
    x = _maps(sphere_signals, rng, B, B)
    y = pool(x).numpy()
    np.testing.assert_allclose(pool(np.roll(x, 2, axis=2)).numpy(), np.roll(y, 1, axis=2), rtol=1e-5, atol=1e-6)
    mirror = lambda f: np.roll(f[:, :, ::-1], 1, axis=2)  # phi_k -> -phi_k on the grid
    np.testing.assert_allclose(pool(mirror(x)).numpy(), mirror(y), rtol=1e-5, atol=1e-6)


def test_batch_norm_uses_sphere_moments(rng, sphere_signals):
    B = 8
    x = _maps(sphere_signals, rng, B, B) + 2.0
    bn = SphericalBatchNormalization(epsilon=1e-6)
    y = bn(x, training=True).numpy()
    mean_layer = SphericalGlobalAverage()
    np.testing.assert_allclose(mean_layer(y).numpy().mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(mean_layer(y ** 2).numpy().mean(axis=0), 1.0, rtol=1e-3)
    R = sphere_signals.random_rotations(rng, 2).astype("float32")
    # Moments of band-limited maps are rotation-invariant (quadrature is exact for x and, as 2L-1 < 2B, x^2).
    y_rot = SphericalBatchNormalization(epsilon=1e-6)(rotate_map(x, R), training=True)
    np.testing.assert_allclose(y_rot.numpy(), rotate_map(y, R).numpy(), atol=TOL32 * np.abs(y).max())


def test_layers_round_trip_keras_format(rng, tmp_path, sphere_signals):
    B = 8
    inputs = keras.Input((2 * B, 2 * B, 2))
    x = SphericalConv(4, num_anchors=3, L=6, kernel_regularizer="l2")(inputs)
    x = SphericalBatchNormalization()(x)
    x = SphericalAveragePool()(x)
    outputs = SphericalGlobalAverage()(x)
    model = keras.Model(inputs, outputs)
    model.get_layer(index=2).moving_mean.assign(np.arange(4.0, dtype="float32"))  # non-default state
    path = os.path.join(tmp_path, "layers.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = _maps(sphere_signals, rng, B, B, channels=2)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    for layer in model.layers[1:]:
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("shape", [(2, 16, 12, 3), (2, 15, 15, 3), (16, 16, 3)])
def test_bad_input_shapes_raise(shape):
    with pytest.raises(ValueError, match="inputs must have shape"):
        SphericalConv(2).build(shape)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="L=9 must be <= B=8"):
        SphericalConv(2, L=9).build((1, 16, 16, 1))
    with pytest.raises(ValueError, match="even bandwidth"):
        SphericalAveragePool().build((1, 14, 14, 1))
    with pytest.raises(ValueError, match="num_anchors"):
        anchor_interpolation(4, 0)


def test_spherical_conv_gradient(rng):
    B = 4
    conv = SphericalConv(2, num_anchors=2, dtype="float64")
    x = tf.constant(rng.normal(size=(1, 2 * B, 2 * B, 2)))
    theoretical, numerical = tf.test.compute_gradient(lambda t: conv(t), [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)
