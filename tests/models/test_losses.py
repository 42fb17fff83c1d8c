"""Area-weighted Huber losses (plain and centered) and relative-error metric (sphembed.models.losses)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from sphembed.models.losses import (EMBEDDING_LOSSES, AreaWeightedHuber, CenteredAreaWeightedHuber, RelativeError,
                                    area_weighted_huber, centered_area_weighted_huber, embedding_loss,
                                    equivariance_error, relative_error, spherical_mean)


def _huber_np(x, delta):
    a = np.abs(x)
    return np.where(a <= delta, 0.5 * a ** 2, delta * (a - 0.5 * delta))


def test_huber_preset():
    # A residual constant over the sphere: area weights have mean 1, so the value is the plain Huber value.
    t = np.zeros((3, 8, 8, 2), np.float32)
    p = t + np.array([0.5, -3.0, 1.0], np.float32)[:, None, None, None]
    np.testing.assert_allclose(area_weighted_huber(t, p).numpy(), [0.125, 2.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(area_weighted_huber(t, p, delta=2.0).numpy(), [0.125, 4.0, 0.5], rtol=1e-6)


def test_huber_random(rng):
    # Second route: the numpy Huber with weights sin(theta_j) / mean, theta_j = pi (2j + 1) / (4B).
    B = 4
    t, p = (rng.normal(size=(2, 2 * B, 2 * B, 3)).astype(np.float32) * 2 for _ in range(2))
    theta = np.pi * (2 * np.arange(2 * B) + 1) / (4 * B)
    w = np.sin(theta) / np.sin(theta).mean()
    expected = (w[:, None, None] * _huber_np(p - t, 1.0)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(area_weighted_huber(t, p).numpy(), expected, rtol=1e-5)
    loss = AreaWeightedHuber()
    np.testing.assert_allclose(float(loss(t, p)), expected.mean(), rtol=1e-5)


def test_area_weighting_equator_vs_pole():
    # The same residual in the row next to the pole counts sin(theta_0) / sin(theta_{B-1}) times the equator's.
    B = 8
    t = np.zeros((2, 2 * B, 2 * B, 1), np.float32)
    p = t.copy()
    p[0, 0] = 0.1
    p[1, B - 1] = 0.1
    polar, equator = area_weighted_huber(t, p).numpy()
    theta = np.pi * (2 * np.arange(2 * B) + 1) / (4 * B)
    np.testing.assert_allclose(polar / equator, np.sin(theta[0]) / np.sin(theta[B - 1]), rtol=1e-5)


def test_relative_error_preset():
    t = np.array([[1.0, 1.0, -1.0, 1.0]], np.float32)
    p = np.array([[1.0, 0.0, 1.0, 2.0]], np.float32)
    # per entry: 0, 1/(1+eps), 2/2, 1/3
    np.testing.assert_allclose(relative_error(t, p, eps=0.0).numpy(), [(0 + 1 + 1 + 1 / 3) / 4], rtol=1e-6)
    np.testing.assert_allclose(relative_error(t, t).numpy(), [0.0], atol=0)
    np.testing.assert_allclose(relative_error(p, t).numpy(), relative_error(t, p).numpy(), rtol=1e-7)


def test_equivariance_error_is_the_relative_l2_norm(rng):
    expected = rng.normal(size=(3, 4, 4, 2))
    delta = rng.normal(size=expected.shape)
    got = expected + 0.25 * delta
    np.testing.assert_allclose(equivariance_error(got, expected), 0.25 * np.linalg.norm(delta) / np.linalg.norm(expected),
                               rtol=1e-12)
    assert equivariance_error(7.0 * got, 7.0 * expected) == pytest.approx(equivariance_error(got, expected), rel=1e-12)
    assert equivariance_error(expected, expected) == 0.0
    zero = np.zeros_like(expected)
    assert equivariance_error(zero, zero) == 0.0 and equivariance_error(got, zero) == float("inf")
    with pytest.raises(ValueError, match="same shape"):
        equivariance_error(got[:2], expected)


def test_relative_error_metric_averages_examples(rng):
    t, p = (rng.normal(size=(5, 4, 4, 2)).astype(np.float32) for _ in range(2))
    metric = RelativeError()
    metric.update_state(t[:2], p[:2])
    metric.update_state(t[2:], p[2:])
    np.testing.assert_allclose(float(metric.result()), relative_error(t, p).numpy().mean(), rtol=1e-5)


def _area_weights_np(B):
    theta = np.pi * (2 * np.arange(2 * B) + 1) / (4 * B)
    return np.sin(theta) / np.sin(theta).mean()


def test_centered_huber_random(rng):
    # Direct route: subtract each map's area-weighted channel means (weights sin(theta_j) / mean), then the
    # numpy Huber, area weighted; residuals up to ~6 exercise both Huber branches.
    B = 4
    t, p = (rng.normal(size=(3, 2 * B, 2 * B, 2)).astype(np.float32) * 2 + 1 for _ in range(2))
    w = _area_weights_np(B)[:, None, None]
    tc, pc = (x - (w * x).mean(axis=(1, 2), keepdims=True) for x in (t, p))
    for delta in (1.0, 0.3):
        expected = (w * _huber_np(pc - tc, delta)).mean(axis=(1, 2, 3))
        np.testing.assert_allclose(centered_area_weighted_huber(t, p, delta).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(float(CenteredAreaWeightedHuber()(t, p)), (w * _huber_np(pc - tc, 1.0)).mean(),
                               rtol=1e-5)


def test_centered_huber_ignores_channel_constants(rng):
    B = 4
    t, p = (rng.normal(size=(2, 2 * B, 2 * B, 3)).astype(np.float32) for _ in range(2))
    base = centered_area_weighted_huber(t, p).numpy()
    assert np.all(base > 0.1)
    # Different constants per example and channel for each map: a degree-0 change only.
    ct, cp = (rng.normal(size=(2, 1, 1, 3)).astype(np.float32) * 5 for _ in range(2))
    np.testing.assert_allclose(centered_area_weighted_huber(t + ct, p + cp).numpy(), base, rtol=1e-4)
    # Zero for equal maps and for maps that differ by such constants (where the plain Huber is not zero).
    np.testing.assert_allclose(centered_area_weighted_huber(t, t).numpy(), [0.0, 0.0], atol=0)
    np.testing.assert_allclose(centered_area_weighted_huber(t, t + cp).numpy(), [0.0, 0.0], atol=1e-10)
    assert np.all(area_weighted_huber(t, t + cp).numpy() > 0.01)


def test_centered_huber_equals_plain_huber_for_mean_free_residual(rng):
    # The centered loss is the plain one of the residual minus its spherical mean; a mean-free residual is unchanged.
    B = 4
    t = rng.normal(size=(2, 2 * B, 2 * B, 2)).astype(np.float32)
    r = rng.normal(size=t.shape).astype(np.float32)
    r -= spherical_mean(r).numpy()
    np.testing.assert_allclose(spherical_mean(r).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(centered_area_weighted_huber(t, t + r).numpy(), area_weighted_huber(t, t + r).numpy(),
                               rtol=1e-5)


def test_spherical_mean_is_the_area_weighted_integral():
    # cos(theta)^2 integrates to 4 pi / 3 over the sphere: mean 1/3, up to the area-weight quadrature (O(1/B^2)).
    B = 16
    theta = np.pi * (2 * np.arange(2 * B) + 1) / (4 * B)
    f = np.broadcast_to((np.cos(theta) ** 2)[None, :, None, None], (1, 2 * B, 2 * B, 1)).astype(np.float32)
    np.testing.assert_allclose(spherical_mean(f).numpy().ravel(), [1 / 3], rtol=2e-3)


def test_centered_huber_gradient(rng):
    # Finite, nonzero, and with zero sum over the sphere per channel (the loss does not see a constant shift of p).
    B = 4
    t = tf.constant(rng.normal(size=(2, 2 * B, 2 * B, 3)).astype(np.float32) * 3)
    p = tf.Variable(rng.normal(size=(2, 2 * B, 2 * B, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = CenteredAreaWeightedHuber()(t, p)
    g = tape.gradient(loss, p).numpy()
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
    np.testing.assert_allclose(g.sum(axis=(1, 2)), 0.0, atol=1e-6)


def test_embedding_loss_names():
    """The TF-free flag choices of train-embedding --loss are the losses' names."""
    from sphembed.models.train import flags

    assert sorted(EMBEDDING_LOSSES) == sorted(flags.EMBEDDING_LOSSES)
    assert type(embedding_loss("huber")) is AreaWeightedHuber
    assert type(embedding_loss("centered-huber")) is CenteredAreaWeightedHuber
    with pytest.raises(ValueError, match="loss must be one of"):
        embedding_loss("l2")


def test_serialization_round_trip():
    loss = keras.losses.deserialize(keras.losses.serialize(AreaWeightedHuber(delta=0.5)))
    assert isinstance(loss, AreaWeightedHuber) and loss.delta == 0.5
    loss = keras.losses.deserialize(keras.losses.serialize(CenteredAreaWeightedHuber(delta=0.25)))
    assert isinstance(loss, CenteredAreaWeightedHuber) and loss.delta == 0.25
    assert loss.get_config()["name"] == "centered_area_weighted_huber"
    metric = keras.metrics.deserialize(keras.metrics.serialize(RelativeError(eps=1e-3)))
    assert isinstance(metric, RelativeError) and metric.eps == 1e-3


@pytest.mark.parametrize("shape", [(2, 8, 6, 1), (8, 8), (2, 7, 7, 1)])
def test_huber_rejects_non_sphere_maps(shape):
    x = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match="y_pred"):
        area_weighted_huber(x, x)


def test_huber_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="y_true"):
        area_weighted_huber(np.zeros((2, 8, 8, 2), np.float32), np.zeros((2, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="delta"):
        area_weighted_huber(np.zeros((1, 4, 4, 1)), np.zeros((1, 4, 4, 1)), delta=0.0)
    with pytest.raises(ValueError, match="y_true"):
        centered_area_weighted_huber(np.zeros((2, 8, 8, 2), np.float32), np.zeros((2, 8, 8, 1), np.float32))


def test_channel_rms_is_the_spread_of_the_rotation_dependent_part(rng, sphere_signals):
    # Band-limited maps with a known degree-0 part: the RMS over the sphere of a map without its l = 0 term is
    # sqrt(sum_{l >= 1} |f_lm|^2 / (4 pi)) (orthonormal harmonics); the area weights sin(theta_j) / mean are the
    # loss's, which approximate the exact quadrature to O(1 / B^2) (measured 0.09% at B = 6, checked at 0.5%). A
    # constant channel has nothing to scale and gets 1.
    from sphembed.models.losses import channel_rms

    B = 6
    flm = sphere_signals.random_flm(rng, 4, (5, 2))  # 5 maps, 2 channels, degrees < 4
    maps = sphere_signals.grid_map(flm, B)
    maps = np.concatenate([maps, np.full(maps.shape[:-1] + (1,), 3.0)], axis=-1)
    power = (np.abs(flm[..., 1:, :]) ** 2).sum(axis=(-2, -1)) / (4 * np.pi)  # [5, 2]
    np.testing.assert_allclose(channel_rms(maps), np.r_[np.sqrt(power.mean(axis=0)), 1.0], rtol=5e-3)


@pytest.mark.parametrize("loss_class", [AreaWeightedHuber, CenteredAreaWeightedHuber])
def test_channel_scale_measures_each_channel_in_its_units(rng, loss_class):
    t, p = (rng.normal(size=(3, 8, 8, 2)).astype(np.float32) * [0.3, 2.0] for _ in range(2))
    s = [0.3, 2.0]
    scaled = loss_class(channel_scale=s)
    np.testing.assert_allclose(float(scaled(t, p)), float(loss_class()(t / s, p / s)), rtol=1e-6)
    again = loss_class.from_config(scaled.get_config())
    assert again.channel_scale == s and float(again(t, p)) == pytest.approx(float(scaled(t, p)))
    with pytest.raises(ValueError, match="positive"):
        loss_class(channel_scale=[1.0, 0.0])
    with pytest.raises(ValueError, match="2 entries for 3 channels"):
        scaled(np.zeros((1, 8, 8, 3), np.float32), np.zeros((1, 8, 8, 3), np.float32))
