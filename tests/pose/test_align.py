"""align: recovery of a known rotation (grid and refined), coarse-to-fine = dense, top_k on symmetric maps, batch =
per pair, one compiled function per shape."""

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from sphembed.models.sphere.harmonics import isht
from sphembed.models.sphere.rotations import geodesic_angle, matrix_to_euler, rotate_coefficients, rotate_map
from sphembed.pose import compiled
from sphembed.pose.alignment import align, align_coefficients
from sphembed.pose.correlation import correlation_at, correlation_coefficients, correlation_grid

B, C = 8, 4


def _rotated_pair(sphere_signals, rng, batch, flm=None):
    flm = sphere_signals.random_flm(rng, B, (batch, C)) if flm is None else flm
    f = sphere_signals.grid_map(flm, B).astype(np.float32)
    R0 = sphere_signals.random_rotations(rng, batch).astype(np.float32)
    return rotate_map(f, R0).numpy(), f, R0


def _error_deg(R, R0):
    return np.degrees(geodesic_angle(tf.cast(R, tf.float64), tf.cast(R0, tf.float64)).numpy())


@pytest.mark.parametrize("Bp", [8, 12])
def test_align_recovers_rotation_on_grid_random(rng, Bp, sphere_signals):
    g, f, R0 = _rotated_pair(sphere_signals, rng, 4)
    R, _ = align(g, f, out_bandwidth=Bp, refine=False)
    # Grid resolution: the nearest grid point differs by <= pi/(2B') in alpha and gamma and pi/(4B') in beta, and
    # the geodesic error of an Euler perturbation is at most the sum of the three angle errors: 5 pi/(4B').
    assert np.all(_error_deg(R, R0) <= np.degrees(5 * np.pi / (4 * Bp)))


@pytest.mark.parametrize("method", ["coarse-to-fine", "dense"])
def test_align_refined_recovers_rotation_random(rng, method, sphere_signals):
    g, f, R0 = _rotated_pair(sphere_signals, rng, 4)
    R, score = align(g, f, out_bandwidth=8, refine=True, method=method)
    assert R.shape == (4, 3, 3) and score.shape == (4,)
    # The issue asks for 0.5 deg; measured <= 0.008 deg here (float32 maps and the refinement's stopping rule).
    # Checked at 0.1 deg: >10x the measured error, and well below the grid step 5 pi/(4B') = 28 deg it refines.
    assert np.all(_error_deg(R, R0) < 0.1)
    _, grid_score = align(g, f, out_bandwidth=8, refine=False)
    assert np.all(score.numpy() >= grid_score.numpy())


@pytest.mark.parametrize("beta", [1e-4, 0.002, 0.02, np.pi - 0.002, np.pi - 0.02])
def test_align_refined_near_euler_singularity(rng, beta, sphere_signals):
    # At beta = 0, pi only alpha +/- gamma is defined and Newton on Euler angles crawls; refinement switches frames
    # there. Without the switch these cases measured errors up to 1.27 deg; with it <= 0.02 deg (all five betas,
    # seed 1234). Checked at 0.1 deg: 5x the measured error and 12x below the failure without the switch.
    n = 6
    f = sphere_signals.grid_map(sphere_signals.random_flm(rng, B, (n, C)), B).astype(np.float32)
    abg = np.stack([rng.uniform(-np.pi, np.pi, n), np.full(n, beta), rng.uniform(-np.pi, np.pi, n)], axis=-1)
    R0 = Rotation.from_euler("ZYZ", abg).as_matrix().astype(np.float32)
    R, _ = align(rotate_map(f, R0).numpy(), f, out_bandwidth=32)
    assert np.all(_error_deg(R, R0) < 0.1)


def test_align_scores_are_exact_correlation(rng, sphere_signals):
    g, f, _ = _rotated_pair(sphere_signals, rng, 2)
    R, score = align(g, f, refine=True)
    abg = matrix_to_euler(tf.cast(R, tf.float64))
    want = correlation_at(correlation_coefficients(g.astype(np.float64), f.astype(np.float64)), *abg).numpy()
    np.testing.assert_allclose(score.numpy(), want, rtol=1e-4)


def test_align_identity_preset(rng, sphere_signals):
    f = sphere_signals.grid_map(sphere_signals.random_flm(rng, B, (1, C)), B).astype(np.float32)
    R, _ = align(f, f)
    np.testing.assert_allclose(R.numpy()[0], np.eye(3), atol=1e-4)


def test_align_batch_equals_per_pair(rng, sphere_signals):
    g, f, _ = _rotated_pair(sphere_signals, rng, 3)
    R, score = align(g, f, out_bandwidth=10)
    for i in range(3):
        Ri, si = align(g[i:i + 1], f[i:i + 1], out_bandwidth=10)
        np.testing.assert_allclose(Ri.numpy()[0], R.numpy()[i], atol=1e-4)
        np.testing.assert_allclose(si.numpy()[0], score.numpy()[i], rtol=1e-5)


def test_align_top_k_finds_both_peaks_of_symmetric_map(rng, sphere_signals):
    # A map with only even orders m is invariant under Rz(pi): Lambda_{R0} f and Lambda_{R0 Rz(pi)} f coincide,
    # so C has two equal maxima 180 degrees apart.
    flm = sphere_signals.random_flm(rng, B, (2, C))
    flm[..., np.arange(-(B - 1), B) % 2 == 1] = 0
    g, f, R0 = _rotated_pair(sphere_signals, rng, 2, flm)
    R, score = align(g, f, out_bandwidth=8, top_k=3, min_separation_deg=60.0)
    assert R.shape == (2, 3, 3, 3) and score.shape == (2, 3)
    twin = R0 @ Rotation.from_euler("z", np.pi).as_matrix().astype(np.float32)
    for i in range(2):
        err = np.stack([_error_deg(R[i, :2], np.broadcast_to(t, (2, 3, 3))) for t in (R0[i], twin[i])])
        assert np.all(err.min(axis=1) < 0.5) and np.all(err.min(axis=0) < 0.5)  # the two best are R0 and its twin
        assert np.all(np.diff(score[i].numpy()) <= 1e-3 * score[i, 0].numpy())
        assert score[i, 2] < 0.9 * score[i, 0]  # the third is a genuinely lower peak


def _maps_of(flm, Bm):
    return tf.cast(isht(tf.constant(flm), Bm), tf.float32).numpy()


def test_coarse_to_fine_agrees_with_dense_random(rng, sphere_signals):
    # 2,000 random band-limited 4-channel pairs at B = 6 (flat spectrum, l < 6): 1,000 independent (f and h
    # unrelated: C is a random field with many local maxima of similar height, the hard case) and 1,000 rotated
    # (f = Lambda_R h plus noise of the same power). Reference: the dense grid at B' = 24 (48^3 points) with the
    # same 8 seeds and refinement; coarse-to-fine searches the 24^3 grid of B' = 2B. Measured within 0.1 deg:
    # 1,000/1,000 rotated and 999/1,000 independent (seed 1234; 1,998/2,000 independent at B = 8, B' = 32); a miss
    # is another peak whose height differs by 0.3-2.3%: the two grids rank their local maxima differently, and the
    # best one was not among the other grid's 8 seeds. The bar is 99.5%.
    n, Bm = 1000, 6
    h = sphere_signals.random_flm(rng, Bm, (2 * n, C))
    R0 = tf.constant(sphere_signals.random_rotations(rng, n))
    rotated = rotate_coefficients(tf.constant(h[n:]), R0).numpy() + sphere_signals.random_flm(rng, Bm, (n, C))
    f = _maps_of(np.concatenate([sphere_signals.random_flm(rng, Bm, (n, C)), rotated]), Bm)
    h = _maps_of(h, Bm)
    R_c, s_c = align(f, h, out_bandwidth=24)
    dense = [align(f[i:i + 256], h[i:i + 256], out_bandwidth=24, method="dense") for i in range(0, 2 * n, 256)]
    R_d, s_d = (np.concatenate([d[k].numpy() for d in dense]) for k in (0, 1))
    close = _error_deg(R_c, R_d) < 0.1
    assert np.mean(close[:n]) >= 0.995 and np.all(close[n:])


def test_coarse_to_fine_agrees_with_dense_sphere_maps(rng, sphere_signals):
    # Sphere-map-sized inputs: 64 x 64 x 2 (B = 32) at B' = 32, where the coarse grid (min(max(2B, 16), B') = 32) is
    # the dense one and coarse-to-fine differs from dense only in its refinement: the best 2 seeds after 3 Newton
    # steps take the remaining 5 (dense refines all 8 seeds for 8 steps). Sets of 128 pairs: rotated (f = Lambda_R h
    # plus noise of the same power) and independent maps with a real-like spectrum (power per coefficient ~
    # (l + 1)^-2.5, the slope measured on the procedural sphere maps at B = 32), and independent flat-spectrum maps
    # (the hard case: many local maxima of similar height). Bound: the 99.5% per set, i.e. every pair of 128.
    # Where both find the same peak they differ by float32 round-off: the geodesic angle of two float32 rotations that
    # are equal to ~1e-7 reads ~0.01 deg (measured median 0.009 deg); another peak is at least a peak width, ~ the grid
    # step 180/32 = 5.6 deg, away; so 0.1 deg separates the two cases. Measured 400/400 in every set (seed 7).
    n, Bm, Cm = 128, 32, 2
    tilt = (np.arange(Bm) + 1.0)[:, None] ** -1.25  # amplitude per degree: power (l + 1)^-2.5
    h = sphere_signals.random_flm(rng, Bm, (2 * n, Cm)) * tilt
    R0 = tf.constant(sphere_signals.random_rotations(rng, n))
    rotated = rotate_coefficients(tf.constant(h[:n]), R0).numpy() + sphere_signals.random_flm(rng, Bm, (n, Cm)) * tilt
    f = np.concatenate([rotated, sphere_signals.random_flm(rng, Bm, (n, Cm)) * tilt,
                        sphere_signals.random_flm(rng, Bm, (n, Cm))])
    h = np.concatenate([h, sphere_signals.random_flm(rng, Bm, (n, Cm))])
    f, h = _maps_of(f, Bm), _maps_of(h, Bm)
    R_c, R_d = ([align(f[i:i + 64], h[i:i + 64], out_bandwidth=32, method=method)[0].numpy()
                 for i in range(0, 3 * n, 64)] for method in ("coarse-to-fine", "dense"))
    close = (_error_deg(np.concatenate(R_c), np.concatenate(R_d)) < 0.1).reshape(3, n)
    assert np.all(np.mean(close, axis=1) >= 0.995)


def test_align_default_search_grid_and_coarse_bandwidth(rng, sphere_signals):
    # Coarse-to-fine and dense share the seeds and the Newton steps (coarse-to-fine drops all but the best 2 seeds
    # after 3 of them, each step taken only when it increases C): with the coarse grid equal to the dense one they
    # return the same rotations and scores.
    g, f, _ = _rotated_pair(sphere_signals, rng, 2)
    R_c, s_c = align(g, f, out_bandwidth=16, coarse_bandwidth=16)
    R_d, s_d = align(g, f, out_bandwidth=16, method="dense")
    np.testing.assert_allclose(R_c.numpy(), R_d.numpy(), atol=1e-5)
    np.testing.assert_allclose(s_c.numpy(), s_d.numpy(), rtol=1e-6)


def test_align_low_pass_coarse_grid_is_the_grid_of_the_low_degrees(rng, sphere_signals):
    # A coarse_bandwidth Bc below the maps' B searches the grid of the correlation's degrees l < Bc. On maps whose
    # content is l < Bc, represented at B = 2 Bc (the degrees >= Bc are SHT round-off, ~1e-7), that grid and the
    # refinement are those of the same maps at B = Bc: the two give the same rotations. Independent maps (the hard
    # case, many peaks of similar height): a grid built from the wrong coefficients would seed other peaks.
    n, Bc = 16, 6
    flm = [sphere_signals.random_flm(rng, Bc, (n, C)) for _ in range(2)]
    small = [_maps_of(x, Bc) for x in flm]
    padded = [np.zeros((n, C, 2 * Bc, 4 * Bc - 1), complex) for _ in range(2)]
    for x, y in zip(padded, flm):
        x[:, :, :Bc, Bc:3 * Bc - 1] = y
    large = [_maps_of(x, 2 * Bc) for x in padded]
    R_small, s_small = align(*small, out_bandwidth=2 * Bc, coarse_bandwidth=Bc)
    R_large, s_large = align(*large, out_bandwidth=2 * Bc, coarse_bandwidth=Bc)
    # Same peak: the float32 round-off of two maps' transforms moves a converged peak by << 0.1 deg (module tests
    # above: ~0.01 deg); another peak is a peak width, ~180/Bc = 30 deg, away.
    assert np.all(_error_deg(R_large, R_small) < 0.1)
    np.testing.assert_allclose(s_large.numpy(), s_small.numpy(), rtol=1e-4)


def test_align_low_pass_coarse_grid_recovers_rotated_copies(rng, sphere_signals):
    # For f = Lambda_R0 h every degree's term of C, sum_c <f_c^l, D^l(R) h_c^l>, peaks at R0 (Cauchy-Schwarz), so the
    # low-passed grid peaks next to R0 too; the refinement of the full C climbs from there to R0 when the seed is
    # inside the full C's peak (width ~ pi/B), i.e. for a coarse grid not much coarser than B / 2. Flat-spectrum maps
    # at B = 16 searched on the grid of the degrees < 8 (1/8 of the dense grid's points): measured on 8 pairs, errors
    # <= 0.02 deg at coarse bandwidth 6, 8 and 16, while at 3 and 4 two or three of the 8 land on another peak, 30-130
    # deg away. Bound: the refined accuracy of the dense search (test_align_refined_recovers_rotation_random: measured
    # <= 0.008 deg, checked at 0.1 deg).
    Bm = 16
    f = sphere_signals.grid_map(sphere_signals.random_flm(rng, Bm, (16, C)), Bm).astype(np.float32)
    R0 = sphere_signals.random_rotations(rng, 16).astype(np.float32)
    R, _ = align(rotate_map(f, R0).numpy(), f, out_bandwidth=Bm, coarse_bandwidth=Bm // 2)
    assert np.all(_error_deg(R, R0) < 0.1)


@pytest.mark.parametrize("L, Bp, want", [(4, 32, 16), (4, 12, 12), (10, 32, 20)])
def test_align_default_coarse_grid_is_min_of_max_2b_16_and_the_dense_one(rng, sphere_signals, L, Bp, want):
    # The default coarse bandwidth: 2B, but never below 16 (unless the dense grid is coarser) nor above B'. The
    # default must give what the explicit value gives, and a different coarse grid must not (it starts from other
    # seeds, so its rotations differ at round-off at least).
    flm = sphere_signals.random_flm(rng, L, (2, C))
    f = sphere_signals.grid_map(flm, L).astype(np.float32)
    g = rotate_map(f, sphere_signals.random_rotations(rng, 2).astype(np.float32)).numpy()
    R, s = align(g, f, out_bandwidth=Bp)
    R_want, s_want = align(g, f, out_bandwidth=Bp, coarse_bandwidth=want)
    np.testing.assert_array_equal(R.numpy(), R_want.numpy())
    np.testing.assert_array_equal(s.numpy(), s_want.numpy())
    if want > L:
        R_other, _ = align(g, f, out_bandwidth=Bp, coarse_bandwidth=want - 1)
        assert not np.array_equal(R_other.numpy(), R.numpy())


def test_align_unrefined_is_the_dense_grid_argmax(rng, sphere_signals):
    g, f, _ = _rotated_pair(sphere_signals, rng, 2)
    R, score = align(g, f, out_bandwidth=12, refine=False)
    chat = correlation_coefficients(g, f)
    grid = tf.reshape(correlation_grid(chat, 12), [2, -1])
    np.testing.assert_allclose(score.numpy(), tf.reduce_max(grid, axis=1).numpy(), rtol=1e-6)
    R2, score2 = align_coefficients(chat, out_bandwidth=12, refine=False)
    np.testing.assert_allclose(R2.numpy(), R.numpy(), atol=1e-6)


def test_align_compiles_once_per_shape(rng, sphere_signals):
    # No fixed cost per call: a second call with the same shape and options reuses the traced function; a batch of
    # 3 runs padded to 4 (the bucket) in the same function as a batch of 4.
    g, f, _ = _rotated_pair(sphere_signals, rng, 4)
    align(g, f, out_bandwidth=10)
    traces = compiled.trace_count()
    align(g, f, out_bandwidth=10)
    align(g[:3], f[:3], out_bandwidth=10)
    assert compiled.trace_count() == traces


@pytest.mark.parametrize("kwargs, match", [
    ({"top_k": 0}, "top_k must be a positive integer"),
    ({"min_separation_deg": 0.0}, r"min_separation_deg must be in \(0, 180\]"),
    ({"refine_steps": -1}, "refine_steps must be a non-negative integer"),
    ({"out_bandwidth": 3}, "out_bandwidth=3 must be >= the input bandwidth 4"),
    ({"coarse_bandwidth": 0}, "bandwidth B must be a positive integer, got 0"),
    ({"coarse_bandwidth": 1}, r"coarse_bandwidth=1 gives a grid of 1 blocks of 2x2x2 points, fewer than the 8 seeds"),
    ({"method": "fine"}, r"method must be one of \('coarse-to-fine', 'dense'\), got 'fine'"),
    ({"seeds": 0}, "seeds must be a positive integer"),
])
def test_align_bad_options(kwargs, match):
    f = np.zeros((1, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match=match):
        align(f, f, **kwargs)


def test_align_dense_grid_with_fewer_blocks_than_seeds_is_named():
    # The dense search seeds from its grid at out_bandwidth too: B' = 1 (a 2^3 grid, one 2x2x2 block) cannot give 8.
    f = np.ones((1, 2, 2, 1), np.float32)
    with pytest.raises(ValueError, match="out_bandwidth=1 gives a grid of 1 blocks of 2x2x2 points, fewer than the 8"):
        align(f, f, method="dense")
