"""Rotation that best aligns two spherical maps: argmax of the SO(3) correlation, refined off the grid.

align(f, h) returns R maximizing C(R) = sum_c <f_c, Lambda_R h_c>, i.e. Lambda_R h ~ f (`rotate_map(h, R) ~ f`),
with (Lambda_R h)(w) = h(R^T w) and R = Rz(alpha) Ry(beta) Rz(gamma) (DESIGN.md §3).

Steps: (1) the correlation on the grid `so3_grid(B')` (`so3_correlation`); (2) the grid argmax, or for top_k > 1 the
highest grid local maxima (3x3x3 neighbourhood, periodic in alpha and gamma) that are pairwise at least
`min_separation_deg` apart in geodesic angle (greedy non-maximum suppression; shoulders of a peak are only taken
when fewer local maxima exist); (3) refinement: damped Newton ascent on the Euler angles of the exact C, written as
a trigonometric polynomial on the 3-torus, C = Re sum A_{mnk} e^{i(m alpha + n gamma - k beta)}
(`torus_coefficients`), with exact gradient and Hessian; a step is taken only when it increases C, its length is
capped at one grid spacing pi/B' and the cap shrinks after a rejected step. Peaks near the Euler singularity
(|cos beta| > cos 45 deg) are refined in the frame R = R' Ry(pi/2), where they lie near beta' = pi/2.

Checkable: align(rotate_map(f, R0), f) = R0 to the grid resolution without refinement and to round-off-limited
accuracy with it; scores equal correlation_at(Chat, angles of the returned R).
"""

import functools

import numpy as np
import tensorflow as tf
from scipy.spatial.transform import Rotation

from sphembed.models.grids import so3_grid
from sphembed.models.rotations import euler_to_matrix, matrix_to_euler
from sphembed.models.wigner import wigner_d_np
from sphembed.pose.correlation import correlation_coefficients, correlation_grid, torus_coefficients

__all__ = ["align", "align_coefficients", "grid_peaks", "refine_peaks"]


@functools.lru_cache(maxsize=None)
def _so3_grid_matrices_np(Bp):
    """Rotation matrices of the grid points, float32 [(2B')^3, 9] in the flattened (alpha, beta, gamma) order."""
    a, b, g = so3_grid(Bp, "float64")
    angles = np.stack(np.meshgrid(a, b, g, indexing="ij"), axis=-1).reshape(-1, 3)
    mats = Rotation.from_euler("ZYZ", angles).as_matrix().reshape(-1, 9).astype(np.float32)
    mats.setflags(write=False)
    return mats


def _check_options(top_k, min_separation_deg, refine_steps):
    if not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if not 0 < min_separation_deg <= 180:
        raise ValueError(f"min_separation_deg must be in (0, 180], got {min_separation_deg!r}")
    if not isinstance(refine_steps, (int, np.integer)) or refine_steps < 0:
        raise ValueError(f"refine_steps must be a non-negative integer, got {refine_steps!r}")


def grid_peaks(c, top_k=1, min_separation_deg=30.0):
    """Flat indices of the top_k separated peaks of a correlation grid, best first.

    Args:
      c: float [batch, 2B', 2B', 2B'] on `so3_grid(B')`, axes (alpha, beta, gamma).
      top_k: int, number of peaks.
      min_separation_deg: float, minimum geodesic angle between the returned grid rotations (top_k > 1).

    Returns:
      int32 [batch, top_k], indices into c reshaped to [batch, (2B')^3].
    """
    with tf.name_scope("grid_peaks"):
        c = tf.convert_to_tensor(c)
        b, N = tf.shape(c)[0], c.shape[1]
        flat = tf.reshape(c, [b, -1])
        if top_k == 1:
            return tf.argmax(flat, axis=1, output_type=tf.int32)[:, None]
        padded = tf.concat([c[:, -1:], c, c[:, :1]], axis=1)  # alpha periodic
        padded = tf.concat([padded[:, :, :1], padded, padded[:, :, -1:]], axis=2)  # beta: edges compare to self
        padded = tf.concat([padded[..., -1:], padded, padded[..., :1]], axis=3)  # gamma periodic
        pooled = tf.nn.max_pool3d(padded[..., None], ksize=3, strides=1, padding="VALID")[..., 0]
        span = tf.reduce_max(flat, axis=1, keepdims=True) - tf.reduce_min(flat, axis=1, keepdims=True) + 1
        cand = tf.where(tf.reshape(c >= pooled, [b, -1]), flat, flat - span)  # local maxima rank first
        mats = tf.constant(_so3_grid_matrices_np(N // 2), dtype=c.dtype)  # [(2B')^3, 9]
        cos_min = tf.constant(1 + 2 * np.cos(np.radians(min_separation_deg)), c.dtype)
        picks = []
        for _ in range(top_k):
            idx = tf.argmax(cand, axis=1, output_type=tf.int32)
            picks.append(idx)
            trace = tf.matmul(tf.gather(mats, idx), mats, transpose_b=True)  # tr(R_sel^T R_grid), [batch, N^3]
            cand = tf.where(trace > cos_min, tf.constant(-np.inf, c.dtype), cand)
        return tf.stack(picks, axis=1)


def _angles_of(idx, Bp, dtype):
    """Euler angles [batch, K] each of flat grid indices."""
    N = 2 * Bp
    a, b, g = (tf.constant(x, dtype) for x in so3_grid(Bp, "float64"))
    return tf.gather(a, idx // (N * N)), tf.gather(b, (idx // N) % N), tf.gather(g, idx % N)


def _torus_derivatives(A, alpha, beta, gamma, order):
    """C and (order 2) its gradient and Hessian in (alpha, beta, gamma) from torus coefficients.

    A: complex [batch, M, M, M] (m, n, k); angles: real [batch, K]. Returns value [batch, K] and, if order == 2,
    grad [batch, K, 3] and hess [batch, K, 3, 3].
    """
    M = A.shape[1]
    L = (M + 1) // 2
    k = tf.cast(tf.range(-(L - 1), L), alpha.dtype)

    def factors(angle, sign):
        x = sign * angle[..., None] * k  # [batch, K, M]
        e = tf.exp(tf.complex(tf.zeros_like(x), x))
        if order == 0:
            return e[:, :, None]
        ik = tf.complex(tf.zeros_like(k), sign * k)
        return tf.stack([e, ik * e, ik * ik * e], axis=2)  # d^p/dangle^p, [batch, K, P, M]

    pa, pg, pb = factors(alpha, 1.0), factors(gamma, 1.0), factors(beta, -1.0)
    t = tf.einsum("bmnk,bjpm->bjpnk", A, pa)
    u = tf.einsum("bjpnk,bjrn->bjprk", t, pg)
    v = tf.math.real(tf.einsum("bjprk,bjqk->bjprq", u, pb))  # [batch, K, P(alpha), P(gamma), P(beta)]
    if order == 0:
        return v[..., 0, 0, 0]
    grad = tf.stack([v[..., 1, 0, 0], v[..., 0, 0, 1], v[..., 0, 1, 0]], axis=-1)
    hess = tf.stack([
        tf.stack([v[..., 2, 0, 0], v[..., 1, 0, 1], v[..., 1, 1, 0]], axis=-1),
        tf.stack([v[..., 1, 0, 1], v[..., 0, 0, 2], v[..., 0, 1, 1]], axis=-1),
        tf.stack([v[..., 1, 1, 0], v[..., 0, 1, 1], v[..., 0, 2, 0]], axis=-1),
    ], axis=-2)
    return v[..., 0, 0, 0], grad, hess


def refine_peaks(A, alpha, beta, gamma, steps=8, max_step=None):
    """Damped Newton ascent of the exact correlation from starting Euler angles.

    Args:
      A: complex [batch, 2L-1, 2L-1, 2L-1], `torus_coefficients(chat)`.
      alpha, beta, gamma: real [batch, K], starting points (e.g. grid peaks).
      steps: int, Newton iterations.
      max_step: float, initial cap on the step length in radians (default: the grid spacing of bandwidth L).

    Returns:
      (alpha, beta, gamma, value): [batch, K] each; value = C at the returned angles, never below the start value.
    """
    with tf.name_scope("refine_peaks"):
        A = tf.convert_to_tensor(A)
        L = (A.shape[1] + 1) // 2
        x = tf.stack([alpha, beta, gamma], axis=-1)
        radius = tf.fill(tf.shape(alpha), tf.constant(np.pi / L if max_step is None else max_step, x.dtype))
        value = _torus_derivatives(A, alpha, beta, gamma, order=0)
        for _ in range(steps):
            value, grad, hess = _torus_derivatives(A, x[..., 0], x[..., 1], x[..., 2], order=2)
            w, q = tf.linalg.eigh(hess)
            # Newton on the concave part; directions of non-negative curvature get a small negative curvature,
            # so the step there is a capped gradient step (gimbal lock at beta = 0, pi is one such direction).
            floor = 1e-6 * tf.reduce_max(tf.abs(w), axis=-1, keepdims=True) + 1e-30
            w = tf.minimum(w, -floor)
            step = -tf.einsum("...ij,...j->...i", q, tf.einsum("...ji,...j->...i", q, grad) / w)
            norm = tf.norm(step, axis=-1)
            step = step * (tf.minimum(1.0, radius / tf.maximum(norm, 1e-30)))[..., None]
            trial = x + step
            trial_value = _torus_derivatives(A, trial[..., 0], trial[..., 1], trial[..., 2], order=0)
            accept = trial_value >= value
            x = tf.where(accept[..., None], trial, x)
            value = tf.where(accept, trial_value, value)
            radius = tf.where(accept, radius, radius / 4)
        return x[..., 0], x[..., 1], x[..., 2], value


@functools.lru_cache(maxsize=None)
def _d_half_pi_np(L):
    """d^l(pi/2), float64 [L, 2L-1, 2L-1] (m, n at index . + L - 1)."""
    d = wigner_d_np(L, [np.pi / 2])[0]
    d.setflags(write=False)
    return d


def _refine_grid_peaks(chat, alpha, beta, gamma, steps, max_step):
    """Refines grid peaks [batch, K]; returns rotations [batch, K, 3, 3] and C there [batch, K].

    Euler angles are singular at beta = 0, pi (only alpha + gamma, resp. alpha - gamma, is defined there), which
    slows Newton down near the poles. A peak with |cos beta| > cos(pi/4) is refined in the frame R = R' Q,
    Q = Ry(pi/2): C(R' Q) = sum_c <f_c, Lambda_R' Lambda_Q h_c> has coefficients Chat'^l = Chat^l d^l(pi/2)^T, and
    R' = R Q^T has |cos beta'| <= sin beta < cos(pi/4), away from the poles.
    """
    b, K = tf.shape(alpha)[0], tf.shape(alpha)[1]
    L = chat.shape[1]
    alpha, beta, gamma = (tf.reshape(x, [-1]) for x in (alpha, beta, gamma))  # [P = batch * K]
    chat_p = tf.gather(chat, tf.repeat(tf.range(b), K))  # [P, L, M, M]
    pole = tf.abs(tf.cos(beta)) > np.cos(np.pi / 4)
    q = tf.constant([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]], alpha.dtype)  # Ry(pi/2)
    sel = tf.where(pole)
    d_q = tf.cast(tf.constant(_d_half_pi_np(L)), chat.dtype)
    chat_p = tf.tensor_scatter_nd_update(chat_p, sel, tf.einsum("plmk,lnk->plmn", tf.gather_nd(chat_p, sel), d_q))
    start = euler_to_matrix(alpha, beta, gamma)
    start = tf.where(pole[:, None, None], start @ tf.transpose(q), start)
    a0, b0, g0 = (x[:, None] for x in matrix_to_euler(start))
    a1, b1, g1, value = refine_peaks(torus_coefficients(chat_p), a0, b0, g0, steps, max_step)
    rotations = euler_to_matrix(a1[:, 0], b1[:, 0], g1[:, 0])
    rotations = tf.where(pole[:, None, None], rotations @ q, rotations)
    return tf.reshape(rotations, [b, K, 3, 3]), tf.reshape(value, [b, K])


def align_coefficients(chat, out_bandwidth=None, refine=True, top_k=1, min_separation_deg=30.0, refine_steps=8,
                       tables=None):
    """`align` from precomputed correlation coefficients Chat (see `correlation_coefficients`).

    Args:
      chat: complex [batch, L, 2L-1, 2L-1], m at index m + L - 1, n at index n + L - 1.
      out_bandwidth, refine, top_k, min_separation_deg, refine_steps, tables: as in `align`.

    Returns:
      (rotations, scores): as in `align`.
    """
    _check_options(top_k, min_separation_deg, refine_steps)
    with tf.name_scope("align_coefficients"):
        chat = tf.convert_to_tensor(chat)
        L = chat.shape[1]
        Bp = L if out_bandwidth is None else out_bandwidth
        c = correlation_grid(chat, Bp, tables)
        idx = grid_peaks(c, top_k, min_separation_deg)
        alpha, beta, gamma = _angles_of(idx, Bp, c.dtype)
        if refine and refine_steps:
            rotations, score = _refine_grid_peaks(chat, alpha, beta, gamma, refine_steps, np.pi / Bp)
        else:
            score = tf.gather(tf.reshape(c, [tf.shape(c)[0], -1]), idx, batch_dims=1)
            rotations = euler_to_matrix(alpha, beta, gamma)
        if top_k == 1:
            return rotations[:, 0], score[:, 0]
        return rotations, score


def align(f, h, out_bandwidth=None, refine=True, top_k=1, min_separation_deg=30.0, refine_steps=8, tables=None):
    """Rotations R with rotate_map(h, R) ~ f: the argmax of C(R) = sum_c <f_c, Lambda_R h_c>.

    Args:
      f, h: float32/float64 [batch, 2B, 2B, C]; axis 1 is theta (north->south), axis 2 is phi.
      out_bandwidth: int B' >= B (default B), bandwidth of the SO(3) grid searched before refinement (spacing
        pi/B' in alpha and gamma, pi/(2B') in beta).
      refine: bool, refine each grid peak by Newton ascent of the exact C (see module docstring).
      top_k: int, number of distinct peaks returned (for objects with symmetries).
      min_separation_deg: float in (0, 180], minimum geodesic angle between the grid peaks when top_k > 1.
      refine_steps: int, Newton iterations.
      tables: optional `correlation_tables(B, B')`.

    Returns:
      (rotations, scores): for top_k == 1, float [batch, 3, 3] and [batch]; otherwise [batch, top_k, 3, 3] and
      [batch, top_k], best first. scores are C(R) = sum_c <f_c, Lambda_R h_c> (integrals over the sphere).

    Raises:
      ValueError: on bad shapes (naming f or h), B' < B, or bad top_k / min_separation_deg / refine_steps.
    """
    _check_options(top_k, min_separation_deg, refine_steps)
    with tf.name_scope("align"):
        return align_coefficients(correlation_coefficients(f, h), out_bandwidth, refine, top_k, min_separation_deg,
                                  refine_steps, tables)
