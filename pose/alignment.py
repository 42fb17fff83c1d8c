"""Rotation that best aligns two spherical maps: coarse-to-fine search of the SO(3) correlation, refined off the grid.

align(f, h) returns R maximizing C(R) = sum_c <f_c, Lambda_R h_c>, i.e. Lambda_R h ~ f (`rotate_map(h, R) ~ f`),
with (Lambda_R h)(w) = h(R^T w) and R = Rz(alpha) Ry(beta) Rz(gamma) (DESIGN.md §3).

Steps, all batched and compiled once per (shape, dtype, options) (`sphembed.pose.compiled`):
  (1) the compact torus coefficients of C from the correlation coefficients (`sphembed.pose.torus`);
  (2) C exactly on a grid `so3_grid(B_g)` (`torus_grid`): for method "coarse-to-fine" (the default) the coarse grid
      B_g = coarse_bandwidth (default min(max(2B, 16), B'), B the maps' bandwidth and B' = out_bandwidth), for method
      "dense" B_g = B' (the reference); a coarse_bandwidth below B gives the grid of the low-passed correlation, the
      terms of degree l < B_g only (the correlation of the maps' degrees < B_g: the seeds of rotated copies of one
      map, not of unrelated maps, whose peaks the high degrees rank; README "Performance");
  (3) seeds: the `seeds` highest grid local maxima (3x3x3 neighbourhood, periodic in alpha and gamma; above 16
      points per axis the maxima of 2x2x2 blocks that top their 3x3x3 neighbouring blocks; when the grid has fewer,
      the highest other points);
  (4) refinement of every seed: damped Newton ascent of the exact C in the Euler angles with its exact gradient and
      Hessian (`torus_ascent`): a step is taken only when it increases C, its length in the metric of SO(3) is
      capped at one grid spacing pi/B_g, the cap shrinks 4x after a rejected step. Each pair is refined in the one of
      7 fixed frames R = R' Q (Q = I, or Ry(pi/2) Rz(j pi/6)) whose Euler poles are farthest from its seeds, where
      Newton in Euler angles does not crawl. For "coarse-to-fine" only the best 2 refined seeds (each at least
      `min_separation_deg` from those before, as in step 5), or top_k if more, take the Newton steps after the
      third: the ascent's cost is per seed and per step, and the ranking after 3 steps already holds (measured
      against "dense", which refines every seed for every step: tests/pose/test_align.py);
  (5) the best refined seed; for top_k > 1 the refined seeds greedily, best first, each at least
      `min_separation_deg` (geodesic) from those taken (when fewer are that far apart, the next best fill the rest).
With refine=False (or refine_steps=0) there is no refinement and the grid is the one at out_bandwidth for either
method: the grid argmax (or top_k separated grid local maxima), as without refinement the grid spacing is the
accuracy.

Checkable: align(rotate_map(f, R0), f) = R0 to the grid resolution without refinement and to round-off-limited
accuracy with it; scores equal correlation_at(Chat, angles of the returned R); the coarse-to-fine rotation equals the
dense one (tests/pose/test_align.py measures the agreement on random pairs).
"""

import functools

import numpy as np
import tensorflow as tf
from scipy.spatial.transform import Rotation

from sphembed.models.sphere.grids import so3_grid
from sphembed.models.sphere.rotations import euler_to_matrix, matrix_to_euler
from sphembed.models.sphere.shapes import check_bandwidth
from sphembed.models.sphere.wigner import wigner_d_np
from sphembed.pose.compiled import call_cached
from sphembed.pose.correlation import as_map_pair, correlation_coefficients
from sphembed.pose.torus import (check_chat, compact_from_torus, compact_torus, compact_torus_of_half, torus_ascent,
                                 torus_grid)

__all__ = ["align", "align_coefficients", "grid_peaks", "refine_peaks", "METHODS"]

METHODS = ("coarse-to-fine", "dense")


def _check_options(top_k, min_separation_deg, refine_steps, method="dense", seeds=1):
    if not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if not 0 < min_separation_deg <= 180:
        raise ValueError(f"min_separation_deg must be in (0, 180], got {min_separation_deg!r}")
    if not isinstance(refine_steps, (int, np.integer)) or refine_steps < 0:
        raise ValueError(f"refine_steps must be a non-negative integer, got {refine_steps!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")


def _local_maxima(c):
    """c [batch, alpha, beta, gamma] >= its 3x3x3 neighbourhood (periodic in alpha, gamma; beta edges clamped)."""

    def neighbourhood_max(x, axis, periodic):
        if periodic:
            return tf.maximum(x, tf.maximum(tf.roll(x, 1, axis=axis), tf.roll(x, -1, axis=axis)))
        index = [slice(None)] * 4
        index[axis] = slice(0, 1)
        first = x[tuple(index)]
        index[axis] = slice(-1, None)
        last = x[tuple(index)]
        index[axis] = slice(0, -1)
        before = tf.concat([first, x[tuple(index)]], axis=axis)
        index[axis] = slice(1, None)
        after = tf.concat([x[tuple(index)], last], axis=axis)
        return tf.maximum(x, tf.maximum(before, after))

    top = neighbourhood_max(neighbourhood_max(neighbourhood_max(c, 1, True), 3, True), 2, False)
    return c >= top


# Above this many points per axis, local maxima are searched among the maxima of 2x2x2 blocks, each compared with
# its 3x3x3 neighbouring blocks (the exact 3x3x3 test on every point costs more than the rest of the search there).
_BLOCK_SEARCH_ABOVE = 16

# The default coarse grid is never coarser than this bandwidth (32^3 points) unless the dense one is: below it the
# 8 seeds of maps of low bandwidth (the demo's 8 x 8 embeddings, B = 4: a 16^3 grid at 2B) start too far apart for
# the ascent to settle on the dense answer (demo training-split embedding pairs: 99.35% -> 99.85% within 0.1 deg of
# dense; benchmarks/bench_pose.py --run reports the held-out ones), at no measurable cost.
_MIN_COARSE_BANDWIDTH = 16


def _grid_candidates(c, size):
    """(values, flat indices) [batch, size] of the highest local maxima of c, then of the highest other points.

    Local maxima: >= their 3x3x3 neighbourhood; on grids of more than 16 points per axis, maxima of their 2x2x2
    block that are >= the maxima of the 3x3x3 neighbouring blocks (a 6x6x6 neighbourhood at least). Any two points
    of a 2x2x2 block are neighbours, so a block holds at most one local maximum: the search runs over blocks.
    """
    b, N = tf.shape(c)[0], c.shape[1]
    flat = tf.reshape(c, [b, -1])
    if size == 1:  # the global maximum is a local maximum
        idx = tf.argmax(flat, axis=1, output_type=tf.int32)[:, None]
        return tf.gather(flat, idx, batch_dims=1), idx
    span = (tf.reduce_max(flat, axis=1) - tf.reduce_min(flat, axis=1) + 1)[:, None, None, None]
    n = N // 2
    if N <= _BLOCK_SEARCH_ABOVE:
        c = tf.where(_local_maxima(c), c, c - span)  # non-maxima rank below every local maximum
    top = tf.reduce_max(tf.reshape(c, [b, n, 2, n, 2, n, 2]), axis=[2, 4, 6])  # block maxima [batch, n, n, n]
    if N > _BLOCK_SEARCH_ABOVE:
        top = tf.where(_local_maxima(top), top, top - span)
    _, block = tf.math.top_k(tf.reshape(top, [b, -1]), size)
    # block (i, j, k) and offset (di, dj, dk) -> point (2i + di, 2j + dj, 2k + dk): the 8 points of each chosen block
    # read from c itself (a blocked copy of the whole grid costs more than the search).
    i, j, k = block // (n * n), (block // n) % n, block % n
    offsets = tf.constant([(di * N + dj) * N + dk for di in (0, 1) for dj in (0, 1) for dk in (0, 1)], tf.int32)
    points = (((2 * i) * N + 2 * j) * N + 2 * k)[..., None] + offsets  # [batch, size, 8]
    ranked = tf.gather(tf.reshape(c, [b, -1]), points, batch_dims=1)
    idx = tf.gather(points, tf.argmax(ranked, axis=-1, output_type=tf.int32)[..., None], batch_dims=2)[..., 0]
    return tf.gather(flat, idx, batch_dims=1), idx


def _angles_of(idx, Bp, dtype):
    """Euler angles [batch, K] each of flat indices into a grid [batch, 2B' (alpha), 2B' (beta), 2B' (gamma)]."""
    N = 2 * Bp
    a, b, g = (tf.constant(x, dtype) for x in so3_grid(Bp, "float64"))
    return tf.gather(a, idx // (N * N)), tf.gather(b, (idx // N) % N), tf.gather(g, idx % N)


def _separated(R, score, top_k, min_separation_deg):
    """Indices [batch, top_k] into K candidates (R [batch, K, 3, 3], score [batch, K]), best first, each at least
    min_separation_deg from those before; once none is that far, the best remaining candidates."""
    if top_k == 1:
        return tf.argmax(score, axis=1, output_type=tf.int32)[:, None]
    close = tf.einsum("bkij,blij->bkl", R, R) > 1 + 2 * np.cos(np.radians(min_separation_deg))  # tr(R_k^T R_l)
    span = tf.reduce_max(score, axis=1, keepdims=True) - tf.reduce_min(score, axis=1, keepdims=True) + 1
    taken = suppressed = tf.zeros_like(score, tf.bool)
    picks = []
    for _ in range(top_k):
        key = tf.where(taken, tf.constant(-np.inf, score.dtype), tf.where(suppressed, score - span, score))
        idx = tf.argmax(key, axis=1, output_type=tf.int32)
        picks.append(idx)
        taken = taken | tf.one_hot(idx, tf.shape(score)[1], on_value=True, off_value=False)
        suppressed = suppressed | tf.gather(close, idx, batch_dims=1)
    return tf.stack(picks, axis=1)


def _pool_size(top_k, grid_points):
    """Grid local maxima considered for top_k separated peaks."""
    return min(grid_points, 1 if top_k == 1 else max(16, 4 * top_k))


def grid_peaks(c, top_k=1, min_separation_deg=30.0):
    """Flat indices of the top_k separated local maxima of a correlation grid, best first.

    The highest local maxima (3x3x3 neighbourhood, periodic in alpha and gamma) are taken greedily, each at least
    min_separation_deg (geodesic) from those taken; among max(16, 4 top_k) candidates, then the best remaining.

    Args:
      c: float [batch, 2B', 2B', 2B'] on `so3_grid(B')`, axes (alpha, beta, gamma).
      top_k: int, number of peaks.
      min_separation_deg: float in (0, 180], minimum geodesic angle between the returned grid rotations.

    Returns:
      int32 [batch, top_k], indices into c reshaped to [batch, (2B')^3].
    """
    _check_options(top_k, min_separation_deg, 0)
    with tf.name_scope("grid_peaks"):
        c = tf.convert_to_tensor(c)
        N = c.shape[1]
        score, idx = _grid_candidates(c, _pool_size(top_k, N ** 3))
        R = euler_to_matrix(*_angles_of(idx, N // 2, c.dtype))
        return tf.gather(idx, _separated(R, score, top_k, min_separation_deg), batch_dims=1)


def refine_peaks(A, alpha, beta, gamma, steps=8, max_step=None):
    """Damped Newton ascent of the exact correlation from starting Euler angles (see module docstring, step 4).

    Args:
      A: complex [batch, 2L-1, 2L-1, 2L-1], `torus_coefficients(chat)` of real maps.
      alpha, beta, gamma: real [batch, K], starting points (e.g. grid peaks).
      steps: int, Newton iterations.
      max_step: float, initial cap on the step length in radians (default: the grid spacing pi/L of bandwidth L).

    Returns:
      (alpha, beta, gamma, value): [batch, K] each; value = C at the returned angles, never below the start value.
    """
    with tf.name_scope("refine_peaks"):
        return torus_ascent(compact_from_torus(A), alpha, beta, gamma, steps, max_step)


# Frames of the refinement: R = R' Q with Q = I or Q = Ry(pi/2) Rz(phi_j), phi_j = j pi/6 (j = 0..5). R' has
# cos(beta') = (R^T e_z) . (Q^T e_z), so its Euler chart is singular at the rotations with R^T e_z = +-u, u = Q^T e_z:
# the z axis for Q = I, six axes 30 degrees apart on the equator otherwise. Some frame keeps any 4 seeds >= 21
# degrees from its poles, any 8 seeds >= 15 degrees (worst case over 10^5 random sets).
_FRAME_PHI = np.arange(6) * np.pi / 6

# Coarse-to-fine refinement: Newton steps taken by every seed, then the number of seeds that take the rest.
_PRUNE_AFTER = 3
_KEEP_SEEDS = 2


@functools.lru_cache(maxsize=None)
def _frames_np():
    """Q [7, 3, 3] (Q_0 = I) and their pole axes u = Q^T e_z [7, 3]."""
    q = np.concatenate([np.eye(3)[None], Rotation.from_euler("YZ", np.stack([np.full(6, np.pi / 2), _FRAME_PHI], -1))
                        .as_matrix()])
    q.setflags(write=False)
    return q, q[:, 2, :]


@functools.lru_cache(maxsize=None)
def _d_half_pi_np(L):
    """d^l(pi/2), float64 [L, 2L-1, 2L-1] (m, n at index . + L - 1)."""
    d = wigner_d_np(L, [np.pi / 2])[0]
    d.setflags(write=False)
    return d


def _refine_in_frames(chat, R, steps, max_step, keep=None, min_separation_deg=30.0):
    """Refines seeds R [batch, K, 3, 3], each pair in the frame of `_frames_np` that keeps its seeds farthest from
    the Euler poles; returns (rotations [batch, K', 3, 3], C there [batch, K']).

    keep: None (K' = K: every seed takes all steps) or an int K' < K: after `_PRUNE_AFTER` steps only the best K'
    seeds (each at least min_separation_deg from those before while there are such, as `_separated` picks) take the
    remaining steps.

    C(R' Q) = sum_c <f_c, Lambda_R' Lambda_Q h_c> has coefficients Chat'^l = Chat^l conj(D^l(Q))^T; for
    Q = Ry(pi/2) Rz(phi): Chat'^l_{mn} = sum_k Chat^l_{mk} e^{i k phi} d^l_{nk}(pi/2).
    """
    L = chat.shape[1]
    q_np, poles = _frames_np()
    cosines = tf.abs(tf.einsum("bki,ji->bkj", R[..., 2, :], tf.constant(poles, R.dtype)))  # |cos beta'| [batch, K, 7]
    frame = tf.argmin(tf.reduce_max(cosines, axis=1), axis=1, output_type=tf.int32)  # [batch]
    k = tf.range(-(L - 1), L, dtype=R.dtype)
    phi = tf.gather(tf.constant(np.concatenate([[0.0], _FRAME_PHI]), R.dtype), frame)
    phase = tf.exp(tf.complex(tf.zeros_like(phi[:, None] * k), phi[:, None] * k))  # [batch, 2L-1]
    shifted = chat * phase[:, None, None, :]
    d = tf.constant(_d_half_pi_np(L)[:, L - 1 :], R.dtype)  # n >= 0: all that compact_torus reads
    rotated = tf.complex(*(tf.einsum("blmk,lnk->blmn", part, d) for part in (tf.math.real(shifted),
                                                                              tf.math.imag(shifted))))
    p = compact_torus_of_half(tf.where((frame > 0)[:, None, None, None], rotated, chat[..., L - 1 :]))
    Q = tf.gather(tf.constant(q_np, R.dtype), frame)[:, None]  # [batch, 1, 3, 3]
    angles = matrix_to_euler(R @ tf.linalg.matrix_transpose(Q))
    prune = None
    if keep is not None and keep < R.shape[1]:
        def prune(alpha, beta, gamma, value):
            return _separated(euler_to_matrix(alpha, beta, gamma) @ Q, value, keep, min_separation_deg)
    alpha, beta, gamma, value = torus_ascent(p, *angles, steps, max_step, _PRUNE_AFTER, prune)
    return euler_to_matrix(alpha, beta, gamma) @ Q, value


def _align_chat(chat, tables=None, *, out_bandwidth, grid_bandwidth, top_k, min_separation_deg, refine_steps, seeds,
                method):
    """align_coefficients on checked arguments: (rotations, scores) as `align` returns them."""
    L = chat.shape[1]
    if grid_bandwidth < L:  # the low-passed correlation: its terms of degree l < grid_bandwidth, |m|, |n| <= l
        lo, hi = L - grid_bandwidth, L + grid_bandwidth - 1
        chat_grid = chat[:, :grid_bandwidth, lo:hi, lo:hi]
    else:
        chat_grid = chat
    c = torus_grid(compact_torus(chat_grid), grid_bandwidth, tables if grid_bandwidth == out_bandwidth else None)
    size = max(seeds, top_k) if refine_steps else _pool_size(top_k, (2 * grid_bandwidth) ** 3)
    score, idx = _grid_candidates(c, size)
    R = euler_to_matrix(*_angles_of(idx, grid_bandwidth, c.dtype))
    if refine_steps:
        R, score = _refine_in_frames(chat, R, refine_steps, np.pi / grid_bandwidth,
                                     None if method == "dense" else max(top_k, _KEEP_SEEDS), min_separation_deg)
    pick = _separated(R, score, top_k, min_separation_deg)
    R, score = tf.gather(R, pick, batch_dims=1), tf.gather(score, pick, batch_dims=1)
    return (R[:, 0], score[:, 0]) if top_k == 1 else (R, score)


def _align_maps(f, h, tables=None, **options):
    return _align_chat(correlation_coefficients(f, h), tables, **options)


def _resolve(L, out_bandwidth, refine, top_k, min_separation_deg, refine_steps, method, seeds, coarse_bandwidth):
    """Checked keyword options of `_align_chat`."""
    _check_options(top_k, min_separation_deg, refine_steps, method, seeds)
    Bp = L if out_bandwidth is None else out_bandwidth
    check_bandwidth(Bp)
    Bc = min(max(2 * L, _MIN_COARSE_BANDWIDTH), Bp) if coarse_bandwidth is None else coarse_bandwidth
    check_bandwidth(Bc)
    if Bp < L:
        raise ValueError(f"out_bandwidth={Bp} must be >= the input bandwidth {L}")
    steps = refine_steps if refine else 0
    Bg, name = (Bc, "coarse_bandwidth") if steps and method == "coarse-to-fine" else (Bp, "out_bandwidth")
    if steps and Bg ** 3 < max(seeds, top_k):  # the seeds come from Bg^3 blocks of 2x2x2 grid points
        raise ValueError(f"{name}={Bg} gives a grid of {Bg ** 3} blocks of 2x2x2 points, fewer than the "
                         f"{max(seeds, top_k)} seeds (seeds, top_k) it must give")
    return dict(out_bandwidth=Bp, grid_bandwidth=Bg, top_k=top_k, min_separation_deg=float(min_separation_deg),
                refine_steps=steps, seeds=seeds, method=method)


def align_coefficients(chat, out_bandwidth=None, refine=True, top_k=1, min_separation_deg=30.0, refine_steps=8,
                       tables=None, method="coarse-to-fine", seeds=8, coarse_bandwidth=None):
    """`align` from precomputed correlation coefficients Chat (see `correlation_coefficients`).

    Args:
      chat: complex [batch, L, 2L-1, 2L-1] of real maps, m at index m + L - 1, n at index n + L - 1.
      out_bandwidth, refine, top_k, min_separation_deg, refine_steps, tables, method, seeds, coarse_bandwidth: as
        in `align` (B = L).

    Returns:
      (rotations, scores): as in `align`.

    Raises:
      ValueError: as in `align`, or if chat is not complex [batch, L, 2L-1, 2L-1].
    """
    with tf.name_scope("align_coefficients"):
        chat = tf.convert_to_tensor(chat)
        options = _resolve(check_chat(chat), out_bandwidth, refine, top_k, min_separation_deg, refine_steps, method,
                           seeds, coarse_bandwidth)
        return call_cached(_align_chat, [chat], tables, **options)


def align(f, h, out_bandwidth=None, refine=True, top_k=1, min_separation_deg=30.0, refine_steps=8, tables=None,
          method="coarse-to-fine", seeds=8, coarse_bandwidth=None):
    """Rotations R with rotate_map(h, R) ~ f: the argmax of C(R) = sum_c <f_c, Lambda_R h_c> (module docstring).

    Args:
      f, h: float32/float64 [batch, 2B, 2B, C]; axis 1 is theta (north->south), axis 2 is phi.
      out_bandwidth: int B' >= B (default B), bandwidth of the grid of method "dense" and of refine=False (spacing
        pi/B' in alpha and gamma, pi/(2B') in beta).
      refine: bool, refine the grid peaks by Newton ascent of the exact C.
      top_k: int, number of distinct peaks returned (for objects with symmetries).
      min_separation_deg: float in (0, 180], minimum geodesic angle between the returned peaks when top_k > 1.
      refine_steps: int, Newton iterations per seed.
      tables: optional `correlation_tables(B, B')` of the grid at out_bandwidth (otherwise built once and cached).
      method: "coarse-to-fine" (grid at coarse_bandwidth, then refinement, the best 2 seeds only after 3 steps) or
        "dense" (grid at out_bandwidth, then refinement of every seed; the reference).
      seeds: int, grid local maxima refined per pair (at least top_k are).
      coarse_bandwidth: int, bandwidth of the coarse grid of "coarse-to-fine" (default min(max(2B, 16), B'):
        (4B)^3 points, at least 32^3, never more than the dense grid). Below B the grid holds the low-passed
        correlation (degrees < coarse_bandwidth): for rotated copies of one map (registration) it finds the dense
        answer at a fraction of the cost, for unrelated maps it often does not (README "Performance").

    Returns:
      (rotations, scores): for top_k == 1, float [batch, 3, 3] and [batch]; otherwise [batch, top_k, 3, 3] and
      [batch, top_k], best first. scores are C(R) = sum_c <f_c, Lambda_R h_c> (integrals over the sphere).

    Raises:
      ValueError: on bad shapes (naming f or h), B' < B, or bad top_k / min_separation_deg / refine_steps / method /
        seeds / coarse_bandwidth.
    """
    with tf.name_scope("align"):
        f, h, B = as_map_pair(f, h)
        options = _resolve(B, out_bandwidth, refine, top_k, min_separation_deg, refine_steps, method, seeds,
                           coarse_bandwidth)
        return call_cached(_align_maps, [f, h], tables, **options)
