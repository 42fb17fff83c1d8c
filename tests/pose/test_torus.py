"""The torus form of the SO(3) correlation: compact coefficients, grid, values with derivatives, Newton ascent."""

import numpy as np
import pytest
import tensorflow as tf

from sphembed.models.sphere.grids import so3_grid
from sphembed.pose.correlation import correlation_at, correlation_coefficients
from sphembed.pose.torus import (compact_from_torus, compact_torus, compact_torus_of_half, torus_ascent,
                                 torus_coefficients, torus_grid, torus_values)

B, C = 5, 3


def _chat(sphere_signals, rng, batch, dtype, L=B):
    f, h = (sphere_signals.grid_map(sphere_signals.random_flm(rng, L, (batch, C)), L).astype(dtype) for _ in range(2))
    return correlation_coefficients(f, h)


def test_compact_is_the_full_form_restricted_random(rng, dtype, tol, sphere_signals):
    chat = _chat(sphere_signals, rng, 2, dtype)
    p = compact_torus(chat)
    assert p.shape == (2, 2, 2 * B - 1, B, B) and p.dtype == dtype
    np.testing.assert_allclose(compact_from_torus(torus_coefficients(chat)).numpy(), p.numpy(),
                               atol=tol * np.abs(p.numpy()).max())


@pytest.mark.parametrize("L, Bp", [(5, 6), (6, 7), (6, 6)])
def test_torus_grid_matches_correlation_at_random(rng, dtype, tol, sphere_signals, L, Bp):
    # Odd and even L (the cos/sin split of the k-transform is by the parity of m + n) and odd and even B'; the
    # reference sums Chat against Wigner-D matrices at every grid point.
    chat = _chat(sphere_signals, rng, 2, dtype, L)
    grid = torus_grid(compact_torus(chat), Bp).numpy()
    angles = np.meshgrid(*so3_grid(Bp, "float64"), indexing="ij")
    reference = correlation_at(chat, *(np.broadcast_to(a, (2, *a.shape)) for a in angles)).numpy()
    np.testing.assert_allclose(grid, reference, atol=tol * np.abs(reference).max())


def test_torus_values_derivatives_match_autodiff_random(rng, dtype, tol, sphere_signals):
    chat = _chat(sphere_signals, rng, 2, dtype)
    angles = [tf.constant(rng.uniform(0.1, 3.0, size=(2, 3)), dtype) for _ in range(3)]
    value, grad, hess = torus_values(compact_torus(chat), *angles, order=2)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(angles)
        with tf.GradientTape() as inner:
            inner.watch(angles)
            want = correlation_at(chat, *angles)
        want_grad = inner.gradient(want, angles)
    want_hess = tf.stack([tf.stack(outer.gradient(g, angles), -1) for g in want_grad], -2)
    scale = np.abs(want_hess.numpy()).max()
    np.testing.assert_allclose(value.numpy(), want.numpy(), atol=tol * scale)
    np.testing.assert_allclose(grad.numpy(), tf.stack(want_grad, -1).numpy(), atol=tol * scale)
    np.testing.assert_allclose(hess.numpy(), want_hess.numpy(), atol=tol * scale)
    np.testing.assert_allclose(torus_values(compact_torus(chat), *angles).numpy(), value.numpy(), rtol=tol)


def test_torus_ascent_climbs_to_a_stationary_point_random(rng, sphere_signals):
    chat = _chat(sphere_signals, rng, 2, "float64")
    p = compact_torus(chat)
    start = [tf.constant(rng.uniform(0.5, 2.5, size=(2, 4))) for _ in range(3)]
    *angles, value = torus_ascent(p, *start, steps=30)
    assert np.all(value.numpy() >= torus_values(p, *start).numpy())
    _, grad, hess = torus_values(p, *angles, order=2)
    # A local maximum: the gradient vanishes (relative to the curvature scale) and the Hessian is negative definite.
    assert np.all(np.abs(grad.numpy()) <= 1e-6 * np.abs(hess.numpy()).max())
    assert np.all(np.linalg.eigvalsh(hess.numpy()) < 0)


@pytest.mark.parametrize("shape, dtype", [((1, 4, 6, 7), tf.complex64), ((1, 4, 7, 7), tf.float32),
                                          ((4, 7, 7), tf.complex64)])
def test_compact_torus_bad_chat(shape, dtype):
    with pytest.raises(ValueError, match=r"chat must be complex \[batch, L, 2L-1, 2L-1\]"):
        compact_torus(tf.zeros(shape, dtype))


@pytest.mark.parametrize("shape, dtype", [((1, 4, 7, 7), tf.complex64), ((1, 4, 7, 4), tf.float32),
                                          ((1, 4, 6, 4), tf.complex64)])
def test_compact_torus_of_half_bad_half(shape, dtype):
    with pytest.raises(ValueError, match=r"half must be complex \[batch, L, 2L-1, L\]"):
        compact_torus_of_half(tf.zeros(shape, dtype))


def test_torus_values_bad_arguments():
    p = tf.zeros([1, 2, 7, 4, 4])
    with pytest.raises(ValueError, match="order must be 0 or 2"):
        torus_values(p, tf.zeros([1, 1]), tf.zeros([1, 1]), tf.zeros([1, 1]), order=1)
    with pytest.raises(ValueError, match=r"compact torus coefficients must be real \[batch, 2, 2L-1, L, L\]"):
        torus_values(tf.zeros([1, 2, 6, 4, 4]), tf.zeros([1, 1]), tf.zeros([1, 1]), tf.zeros([1, 1]))


def test_torus_ascent_prune_keeps_the_trajectories_of_the_kept_points_random(rng, sphere_signals):
    # Every point ascends on its own (its own step radius), so pruning after k steps must leave the kept points where
    # the unpruned ascent takes them; prune sees the state after k steps.
    chat = _chat(sphere_signals, rng, 2, "float64")
    p = compact_torus(chat)
    start = [tf.constant(rng.uniform(0.5, 2.5, size=(2, 5))) for _ in range(3)]
    *full, full_value = torus_ascent(p, *start, steps=6)
    *early, early_value = torus_ascent(p, *start, steps=2)
    pick = np.array([[3, 0], [1, 4]], np.int32)
    seen = {}

    def prune(alpha, beta, gamma, value):
        seen.update(angles=(alpha, beta, gamma), value=value)
        return tf.constant(pick)

    *kept, kept_value = torus_ascent(p, *start, steps=6, prune_after=2, prune=prune)
    for a, b in zip(seen["angles"], early):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(seen["value"].numpy(), early_value.numpy(), rtol=1e-12)
    for a, b in zip([*kept, kept_value], [*full, full_value]):
        np.testing.assert_allclose(a.numpy(), np.take_along_axis(b.numpy(), pick, axis=1), rtol=1e-10, atol=1e-12)
