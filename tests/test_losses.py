"""Area-weighted Huber loss and relative-error metric (sphembed.models.losses)."""

import keras
import numpy as np
import pytest

from sphembed.models.losses import AreaWeightedHuber, RelativeError, area_weighted_huber, relative_error


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


def test_relative_error_metric_averages_examples(rng):
    t, p = (rng.normal(size=(5, 4, 4, 2)).astype(np.float32) for _ in range(2))
    metric = RelativeError()
    metric.update_state(t[:2], p[:2])
    metric.update_state(t[2:], p[2:])
    np.testing.assert_allclose(float(metric.result()), relative_error(t, p).numpy().mean(), rtol=1e-5)


def test_serialization_round_trip():
    loss = keras.losses.deserialize(keras.losses.serialize(AreaWeightedHuber(delta=0.5)))
    assert isinstance(loss, AreaWeightedHuber) and loss.delta == 0.5
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
