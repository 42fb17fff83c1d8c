"""The SO(3) correlation as a trigonometric polynomial on the 3-torus of ZYZ Euler angles (DESIGN.md §3).

With Delta^l = d^l(pi/2), d^l_{mn}(beta) = i^{m-n} sum_k Delta^l_{km} Delta^l_{kn} e^{-i k beta} (the d(pi/2) Fourier
identity), so C(alpha, beta, gamma) = sum_l sum_{m,n} Chat^l_{mn} e^{i m alpha} d^l_{mn}(beta) e^{i n gamma} is

  C = Re sum_{m,n,k} A_{mnk} e^{i (m alpha + n gamma - k beta)},
  A_{mnk} = i^{m-n} sum_l Chat^l_{mn} Delta^l_{km} Delta^l_{kn}

(`torus_coefficients`). For real maps A is redundant: A_{m,n,-k} = (-1)^{m+n} A_{mnk} (Delta^l_{-k,m} =
(-1)^{l-m} Delta^l_{km}) and A_{-m,-n,k} = (-1)^{m+n} conj(A_{mnk}). The compact form keeps n, k >= 0 only:

  C = Re sum_{m, n>=0, k>=0} e^{i (m alpha + n gamma)} P_{mnk} u_k(beta),
  u_k = cos(k beta) if m + n is even, sin(k beta) if odd,
  P_{mnk} = w_n w_k tau_{mn} (-i)^{m-n} A_{mnk},  w_0 = 1, w_{>0} = 2, tau_{mn} = (-1)^floor((m-n)/2),

which is 4x smaller, real-arithmetic friendly, and built by one batched matmul over (m, n) against the table
w_n w_k tau_{mn} Delta^l_{km} Delta^l_{kn}. From it, C on the grid `so3_grid(B')` is a cos/sin transform over k
followed by DFTs over m and n (`torus_grid`), and C with its exact gradient and Hessian in (alpha, beta, gamma)
at any angles is a few small contractions (`torus_values`, what the refinement of `align` evaluates).

Storage: Chat `[batch, L, 2L-1, 2L-1]` (m, n at index . + L - 1); A `[batch, 2L-1 (m), 2L-1 (n), 2L-1 (k)]`, each at
index . + L - 1; P real `[batch, 2 (real, imaginary part), 2L-1 (m, index m + L - 1), L (n), L (k)]`.
"""

import functools

import numpy as np
import tensorflow as tf

from sphembed.models.sphere.grids import so3_grid
from sphembed.models.sphere.shapes import check_bandwidth
from sphembed.models.sphere.wigner import wigner_d_np

__all__ = ["check_chat", "torus_coefficients", "compact_torus", "compact_torus_of_half", "compact_from_torus",
           "torus_grid", "torus_grid_tables", "torus_values", "torus_ascent"]


def check_chat(chat):
    """Raises ValueError unless chat is complex `[batch, L, 2L-1, 2L-1]` with static L; returns L."""
    if (not chat.dtype.is_complex or chat.shape.rank != 4 or chat.shape[1] is None
            or chat.shape[2] != 2 * chat.shape[1] - 1 or chat.shape[3] != chat.shape[2]):
        raise ValueError(f"chat must be complex [batch, L, 2L-1, 2L-1], got {chat.dtype.name} {chat.shape}")
    return chat.shape[1]


def _check_compact(p):
    L = p.shape[-1] if p.shape.rank == 5 else None
    if p.dtype.is_complex or L is None or tuple(p.shape[1:4]) != (2, 2 * L - 1, L):
        raise ValueError(f"compact torus coefficients must be real [batch, 2, 2L-1, L, L], got {p.dtype.name} "
                         f"{p.shape}")
    return L


def _real_dtype(x):
    return tf.float64 if x.dtype in (tf.float64, tf.complex128) else tf.float32


@functools.lru_cache(maxsize=None)
def _weights_np(L):
    """w_n w_k tau_{mn}: float64 [2L-1 (m), L (n), L (k)]."""
    m, n = np.arange(-(L - 1), L)[:, None], np.arange(L)[None, :]
    w = np.where(np.arange(L) == 0, 1.0, 2.0)
    weights = ((-1.0) ** np.floor((m - n) / 2) * w[None, :])[:, :, None] * w
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=None)
def _table_np(L):
    """w_n w_k tau_{mn} Delta^l_{km} Delta^l_{kn}: float64 [(2L-1) L (row (m + L - 1) L + n), L (l), L (k)]."""
    delta = wigner_d_np(L, [np.pi / 2])[0]  # [L, 2L-1 (k), 2L-1 (m)]
    t = np.einsum("lkm,lkn->mnlk", delta[:, L - 1 :, :], delta[:, L - 1 :, L - 1 :])  # [2L-1, L, L, L]
    t = np.ascontiguousarray((t * _weights_np(L)[:, :, None, :]).reshape((2 * L - 1) * L, L, L))
    t.setflags(write=False)
    return t


def compact_torus(chat):
    """Compact torus coefficients P of the correlation of real maps (module docstring).

    Args:
      chat: complex [batch, L, 2L-1, 2L-1], Chat^l_{mn} with m, n at index . + L - 1 (Chat^l_{-m,-n} =
        (-1)^{m+n} conj(Chat^l_{mn}), as for real maps).

    Returns:
      real [batch, 2 (real, imaginary part), 2L-1 (m, index m + L - 1), L (n = 0..L-1), L (k = 0..L-1)].

    Raises:
      ValueError: if chat is not complex [batch, L, 2L-1, 2L-1].
    """
    with tf.name_scope("compact_torus"):
        chat = tf.convert_to_tensor(chat)
        return compact_torus_of_half(chat[..., check_chat(chat) - 1 :])


def compact_torus_of_half(half):
    """`compact_torus` from the n >= 0 half of Chat, all it reads: complex [batch, L, 2L-1, L (n = 0..L-1)]."""
    with tf.name_scope("compact_torus"):
        half = tf.convert_to_tensor(half)
        L = half.shape[-1]
        if not half.dtype.is_complex or half.shape.rank != 4 or L is None or tuple(half.shape[1:3]) != (L, 2 * L - 1):
            raise ValueError(f"half must be complex [batch, L, 2L-1, L], got {half.dtype.name} {half.shape}")
        M = 2 * L - 1
        x = tf.transpose(half, (2, 3, 0, 1))  # [M, L (n), batch, L (l)]
        x = tf.reshape(tf.concat([tf.math.real(x), tf.math.imag(x)], axis=2), [M * L, -1, L])  # [(m, n), 2 batch, l]
        p = tf.matmul(x, tf.constant(_table_np(L), _real_dtype(half)))  # [(m, n), 2 batch, k]
        return tf.transpose(tf.reshape(p, [M, L, 2, -1, L]), (3, 2, 0, 1, 4))


@functools.lru_cache(maxsize=None)
def _phase_np(L):
    """(-i)^{m-n} w_n w_k tau_{mn}, the factor from A to P: complex128 [2L-1, L, L]."""
    m, n = np.arange(-(L - 1), L)[:, None, None], np.arange(L)[None, :, None]
    phase = (-1j) ** (m - n) * _weights_np(L)
    phase.setflags(write=False)
    return phase


def torus_coefficients(chat):
    """Fourier coefficients of C on the 3-torus: C = Re sum A_{mnk} e^{i(m alpha + n gamma - k beta)}.

    Args:
      chat: complex [batch, L, 2L-1, 2L-1] of real maps, m at index m + L - 1, n at index n + L - 1.

    Returns:
      complex [batch, 2L-1 (m), 2L-1 (n), 2L-1 (k)], each at index . + L - 1.
    """
    with tf.name_scope("torus_coefficients"):
        p = compact_torus(chat)
        L = p.shape[-1]
        a = tf.complex(p[:, 0], p[:, 1]) / tf.constant(_phase_np(L), chat.dtype)  # n, k >= 0
        m = np.arange(-(L - 1), L)
        n = np.arange(L)
        sign = tf.constant(((-1.0) ** (m[:, None] + n[None, :]))[..., None], chat.dtype)  # (-1)^{m+n}
        a = tf.concat([tf.reverse(a[..., 1:], [-1]) * sign, a], axis=-1)  # k = -(L-1)..L-1
        # n < 0: A_{m,-n,k} = (-1)^{m+n} conj(A_{-m,n,k}).
        neg = tf.reverse(tf.math.conj(tf.reverse(a, [1]))[:, :, 1:] * sign[:, 1:], [2])
        return tf.concat([neg, a], axis=2)


def compact_from_torus(A):
    """P from full torus coefficients A of real maps (the inverse of expanding `compact_torus` to A).

    Args:
      A: complex [batch, 2L-1, 2L-1, 2L-1] (`torus_coefficients`).

    Returns:
      real [batch, 2, 2L-1, L, L] as `compact_torus`.
    """
    with tf.name_scope("compact_from_torus"):
        A = tf.convert_to_tensor(A)
        M = A.shape[1]
        if not A.dtype.is_complex or A.shape.rank != 4 or M is None or M % 2 == 0 or tuple(A.shape[2:]) != (M, M):
            raise ValueError(f"A must be complex [batch, 2L-1, 2L-1, 2L-1], got {A.dtype.name} {A.shape}")
        L = (M + 1) // 2
        p = A[:, :, L - 1 :, L - 1 :] * tf.constant(_phase_np(L), A.dtype)
        return tf.stack([tf.math.real(p), tf.math.imag(p)], axis=1)


@functools.lru_cache(maxsize=None)
def _parity_layout_np(L):
    """The parity layout of (m, n): (m [2L-1] in the order even m, odd m; n [L] in the order even n, odd n;
    M_0, the number of even m in -(L-1)..L-1; L_0, the number of even n in 0..L-1).

    In this layout the columns with m + n even (u_k = cos) and odd (sin) are four rectangular blocks of strided
    slices, (m even, n even), (m odd, n odd) and (m even, n odd), (m odd, n even): no gather (XLA's gather on CPU
    cost more than the contractions it feeds).
    """
    m, n = np.arange(-(L - 1), L), np.arange(L)
    m_perm, n_perm = np.concatenate([m[m % 2 == 0], m[m % 2 == 1]]), np.concatenate([n[0::2], n[1::2]])
    for x in (m_perm, n_perm):
        x.setflags(write=False)
    return m_perm, n_perm, int(np.sum(m % 2 == 0)), (L + 1) // 2


def _parity_blocks(x, L, m_axis):
    """Blocks {(m parity, n parity): x at those m, n} of x [..., 2L-1 (m) at m_axis, L (n) at m_axis + 1, ...]."""
    first_even_m = (L - 1) % 2  # index of the even m nearest -(L-1)
    rank = x.shape.rank
    m_axis %= rank

    def take(m_start, n_start):
        index = [slice(None)] * rank
        index[m_axis], index[m_axis + 1] = slice(m_start, None, 2), slice(n_start, None, 2)
        return x[tuple(index)]

    return {(a, c): take((first_even_m + a) % 2, c) for a in (0, 1) for c in (0, 1)}


def _prepare(p):
    """P^T in the parity layout for `_evaluate` and `torus_grid`: (even, odd), [batch, L (k), columns] with the
    columns (re/im, m, n) of the blocks with m + n even, (m, n even) then (m, n odd), and odd, (m even, n odd) then
    (m odd, n even) (`_parity_layout_np`)."""
    L = p.shape[-1]
    blocks = _parity_blocks(p, L, m_axis=2)  # [batch, 2, M_a, L_c, L (k)] each
    flat = {key: tf.reshape(tf.transpose(x, (0, 4, 1, 2, 3)), [tf.shape(p)[0], L, -1]) for key, x in blocks.items()}
    return tf.concat([flat[0, 0], flat[1, 1]], axis=-1), tf.concat([flat[0, 1], flat[1, 0]], axis=-1)


def _from_parity_columns(even, odd, L):
    """[..., 2 (re/im), 2L-1 (m), L (n)] in the parity layout from the products of `_prepare`'s even and odd columns,
    even [..., cols_even] and odd [..., cols_odd]."""
    M0, L0 = _parity_layout_np(L)[2:]
    M1, L1 = 2 * L - 1 - M0, L - L0
    lead = tf.shape(even)[:-1]

    def block(x, start, M_a, L_c):
        return tf.reshape(x[..., start : start + 2 * M_a * L_c], tf.concat([lead, [2, M_a, L_c]], 0))

    even_m = tf.concat([block(even, 0, M0, L0), block(odd, 0, M0, L1)], axis=-1)  # [..., 2, M_0, L]
    odd_m = tf.concat([block(odd, 2 * M0 * L1, M1, L0), block(even, 2 * M0 * L0, M1, L1)], axis=-1)
    return tf.concat([even_m, odd_m], axis=-2)


@functools.lru_cache(maxsize=None)
def _grid_tables_np(L, Bp):
    alpha, beta, gamma = so3_grid(Bp, "float64")
    k = np.arange(L)
    m, n = _parity_layout_np(L)[:2]
    kb, ma, ng = np.outer(beta, k), np.outer(m, alpha), np.outer(n, gamma)
    tables = {
        "beta": np.stack([np.cos(kb), np.sin(kb)]),  # [2 (cos, sin), 2B', L (k)]
        # [Re G, Im G] over m -> [Re H, Im H] over alpha: H = sum_m G_m e^{i m alpha}.
        "alpha": np.block([[np.cos(ma), np.sin(ma)], [-np.sin(ma), np.cos(ma)]]),  # [2 (2L-1), 2 * 2B']
        "gamma": np.concatenate([np.cos(ng), -np.sin(ng)]),  # [2L ((re, im), n), 2B']: Re(H e^{i n gamma})
    }
    for t in tables.values():
        t.setflags(write=False)
    return tables


def torus_grid_tables(L, out_bandwidth, dtype="float32"):
    """The cos/sin and DFT tables of `torus_grid`, built once so a loop can pass them in.

    Args:
      L: int, degree band-limit of the coefficients.
      out_bandwidth: int B' >= L.
      dtype: "float32" or "float64".

    Returns:
      dict of Tensors: "beta" [2, 2B', L] (cos, sin of k beta_j), "alpha" [2(2L-1), 2 * 2B'] (real form of
      e^{i m alpha_j}), "gamma" [2L, 2B'] (cos, -sin of n gamma_j); m and n in the order even, then odd.

    Raises:
      ValueError: if B' < L.
    """
    check_bandwidth(out_bandwidth, L)
    return {key: tf.constant(t, dtype) for key, t in _grid_tables_np(L, out_bandwidth).items()}


def torus_grid(p, out_bandwidth, tables=None):
    """C on the grid `so3_grid(B')` from compact torus coefficients: a cos/sin transform over k, then DFTs over m, n.

    All three steps are matmuls: G_{mn}(beta_j) = sum_k P_{mnk} u_k(beta_j) (cos or sin by the parity of m + n, each
    on its half of the (m, n) rows), H_n(alpha_i) = sum_m G_{mn} e^{i m alpha_i}, C = Re sum_n H_n e^{i n gamma}.

    Args:
      p: real [batch, 2, 2L-1, L, L] (`compact_torus`).
      out_bandwidth: int B' >= L.
      tables: optional `torus_grid_tables(L, B')`.

    Returns:
      real [batch, 2B' (alpha), 2B' (beta), 2B' (gamma)]: C(alpha_i, beta_j, gamma_g).

    Raises:
      ValueError: on a bad p or B' < L.
    """
    with tf.name_scope("torus_grid"):
        p = tf.convert_to_tensor(p)
        L = _check_compact(p)
        check_bandwidth(out_bandwidth, L)
        N, M = 2 * out_bandwidth, 2 * L - 1
        t = torus_grid_tables(L, out_bandwidth, p.dtype) if tables is None else {
            key: tf.cast(tables[key], p.dtype) for key in ("beta", "alpha", "gamma")}
        even, odd = _prepare(p)
        g = _from_parity_columns(tf.matmul(t["beta"][0], even), tf.matmul(t["beta"][1], odd), L)  # [b, beta, 2, M, L]
        g = tf.reshape(tf.transpose(g, (0, 1, 4, 2, 3)), [-1, 2 * M])  # [(batch, beta, n), (re/im, m)]
        h = tf.reshape(tf.matmul(g, t["alpha"]), [-1, N, L, 2, N])  # [batch, beta, n, re/im, alpha]
        h = tf.reshape(tf.transpose(h, (0, 4, 1, 3, 2)), [-1, 2 * L])  # [(batch, alpha, beta), (re/im, n)]
        return tf.reshape(tf.matmul(h, t["gamma"]), [-1, N, N, N])


def _evaluate(prepared, L, alpha, beta, gamma, order):
    """`torus_values` from `_prepare(p)`: C (and its gradient, Hessian) at angles [batch, K]."""
    even, odd = prepared
    M = 2 * L - 1
    b, K = tf.shape(alpha)[0], tf.shape(alpha)[1]
    k = tf.range(L, dtype=even.dtype)
    cos, sin = tf.cos(beta[..., None] * k), tf.sin(beta[..., None] * k)  # [batch, K, L]
    # d^d/dbeta^d (d = 0..D-1) of cos(k beta) (m + n even) and sin(k beta) (odd): [batch, (K, d), k] each.
    u_cos, u_sin = ([cos, -k * sin, -k * k * cos], [sin, k * cos, -k * k * sin]) if order else ([cos], [sin])
    D = len(u_cos)
    u_cos, u_sin = (tf.reshape(tf.stack(u, axis=2), [b, K * D, L]) for u in (u_cos, u_sin))
    q = _from_parity_columns(tf.matmul(u_cos, even), tf.matmul(u_sin, odd), L)  # Q = sum_k P u: [b, (K, d), 2, M, L]
    q = tf.reshape(q, [b, K, D * 2 * M, L])  # [.., (d, re/im, m), n]
    # C and its derivatives are bilinear in e^{i m alpha} (times m^p) and e^{i n gamma} (times n^r), p, r <= 2.
    m, n = (tf.constant(x, even.dtype) for x in _parity_layout_np(L)[:2])

    def factors(angle, j):
        c, s = tf.cos(angle[..., None] * j), tf.sin(angle[..., None] * j)
        return tf.stack([c, s] + ([j * c, j * s, j * j * c, j * j * s] if order else []), axis=-1)  # [.., 2 (1 + P)]

    y = tf.reshape(tf.matmul(q, factors(gamma, n)), [b, K, D, 2, M, -1])  # [.., d, re/im, m, (r, cos/sin n)]
    z = tf.einsum("bjdxmr,bjmp->bjdxrp", y, factors(alpha, m))  # [.., d, re/im, (r, cos/sin n), (p, cos/sin m)]
    out = tf.matmul(tf.reshape(z, [b, K, -1]), tf.constant(_selection_np(order), even.dtype))
    if order == 0:
        return out[..., 0]
    hess = tf.gather(out[..., 4:], [[0, 1, 2], [1, 3, 4], [2, 4, 5]], axis=-1)
    return out[..., 0], out[..., 1:4], hess


@functools.lru_cache(maxsize=None)
def _selection_np(order):
    """Signs [D * 2 * R * R, 1 or 10] taking `_evaluate`'s z to (C) or (C, grad (3), Hessian (aa, ab, ag, bb, bg, gg)).

    z[d, x, (r, cn), (p, cm)] = sum_{mn} Q^x_d m^p n^r cn(n gamma) cm(m alpha), Q^0 + i Q^1 = Q (the k-sum with the
    d-th beta derivative), cn, cm in (cos, sin), R = 2 (1 + P) factors per angle. Re and Im of
    sum_{mn} Q_d m^p n^r e^{i (m alpha + n gamma)} follow from (Q^0 + i Q^1)(cos + i sin)(cos + i sin); d/dalpha
    multiplies a term by i m, d/dgamma by i n, so derivatives take Re(i z) = -Im z and Re(-z) = -Re z.
    """
    D, R = (1, 2) if order == 0 else (3, 6)
    # (d, p, r, part 0 = Re / 1 = Im, sign) of each output.
    outputs = [(0, 0, 0, 0, 1)] + ([] if order == 0 else [
        (0, 1, 0, 1, -1), (1, 0, 0, 0, 1), (0, 0, 1, 1, -1),  # gradient (alpha, beta, gamma)
        (0, 2, 0, 0, -1), (1, 1, 0, 1, -1), (0, 1, 1, 0, -1), (2, 0, 0, 0, 1), (1, 0, 1, 1, -1), (0, 0, 2, 0, -1)])
    c, s_ = 0, 1
    parts = {0: [(0, c, c, 1), (0, s_, s_, -1), (1, s_, c, -1), (1, c, s_, -1)],
             1: [(0, s_, c, 1), (0, c, s_, 1), (1, c, c, 1), (1, s_, s_, -1)]}
    sel = np.zeros((D, 2, R, R, len(outputs)))
    for col, (d, p, r, part, sign) in enumerate(outputs):
        for x, cn, cm, term_sign in parts[part]:
            sel[d, x, 2 * r + cn, 2 * p + cm, col] += sign * term_sign
    sel = sel.reshape(-1, len(outputs))
    sel.setflags(write=False)
    return sel


def torus_values(p, alpha, beta, gamma, order=0):
    """C at arbitrary Euler angles from compact torus coefficients; with order=2 also its gradient and Hessian.

    Args:
      p: real [batch, 2, 2L-1, L, L] (`compact_torus`).
      alpha, beta, gamma: real [batch, K], ZYZ Euler angles of R = Rz(alpha) Ry(beta) Rz(gamma).
      order: 0 (value) or 2 (value, gradient, Hessian).

    Returns:
      value [batch, K]; for order 2 also grad [batch, K, 3] and hess [batch, K, 3, 3] in (alpha, beta, gamma).

    Raises:
      ValueError: on a bad p or an order other than 0 and 2.
    """
    if order not in (0, 2):
        raise ValueError(f"order must be 0 or 2, got {order!r}")
    with tf.name_scope("torus_values"):
        p = tf.convert_to_tensor(p)
        L = _check_compact(p)
        alpha, beta, gamma = (tf.cast(x, p.dtype) for x in (alpha, beta, gamma))
        return _evaluate(_prepare(p), L, alpha, beta, gamma, order)


def _wrap(angle):
    return tf.math.floormod(angle + np.pi, 2 * np.pi) - np.pi


def _adjugate(A):
    """(adjugate, determinant) of symmetric A [..., 3, 3] (explicit 3x3 formulas; XLA has no MatrixDeterminant)."""
    a, b, c, d, e, f = A[..., 0, 0], A[..., 0, 1], A[..., 0, 2], A[..., 1, 1], A[..., 1, 2], A[..., 2, 2]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    adj = tf.stack([tf.stack([c00, c01, c02], -1), tf.stack([c01, c11, c12], -1), tf.stack([c02, c12, c22], -1)], -2)
    return adj, a * c00 + b * c01 + c * c02


def _largest_eigenvalue(H):
    """Largest eigenvalue of symmetric H [..., 3, 3] (closed form of the characteristic cubic)."""
    q = tf.linalg.trace(H) / 3
    off = tf.square(H[..., 0, 1]) + tf.square(H[..., 0, 2]) + tf.square(H[..., 1, 2])
    diag = tf.linalg.diag_part(H) - q[..., None]
    scale = tf.sqrt((tf.reduce_sum(tf.square(diag), axis=-1) + 2 * off) / 6)
    shifted = (H - q[..., None, None] * tf.eye(3, dtype=H.dtype)) / tf.maximum(scale, 1e-30)[..., None, None]
    r = tf.clip_by_value(_adjugate(shifted)[1] / 2, -1.0, 1.0)
    return q + 2 * scale * tf.cos(tf.acos(r) / 3)


def _ascent_step(grad, hess):
    """-(H - mu I)^{-1} grad with mu >= 0 the smallest shift making H - mu I negative definite (eigenvalues
    <= -1e-6 ||H||): the Newton step where C is concave, a damped one elsewhere. grad [..., 3], hess [..., 3, 3]."""
    floor = 1e-6 * tf.norm(hess, axis=[-2, -1]) + 1e-30
    mu = tf.maximum(_largest_eigenvalue(hess) + floor, 0.0)
    adj, det = _adjugate(hess - mu[..., None, None] * tf.eye(3, dtype=hess.dtype))
    return -tf.linalg.matvec(adj, grad) / det[..., None]


def torus_ascent(p, alpha, beta, gamma, steps=8, max_step=None, prune_after=None, prune=None):
    """Damped Newton ascent of C in the Euler angles from starting points, with the exact gradient and Hessian.

    A step is -(H - mu I)^{-1} grad (Newton where C is concave, shifted elsewhere); it is taken only when it increases
    C; its length in the metric of SO(3), ds^2 = dalpha^2 + dbeta^2 + dgamma^2 + 2 cos(beta) dalpha dgamma, is capped
    (first at max_step, 4x less after each rejected step). Near beta = 0, pi the Euler chart is singular and the
    ascent slows down; start there in a rotated frame (as `align` does).

    Args:
      p: real [batch, 2, 2L-1, L, L] (`compact_torus`).
      alpha, beta, gamma: real [batch, K], starting points.
      steps: int >= 0, Newton iterations.
      max_step: float, initial cap on the step length in radians (default pi/L).
      prune_after, prune: optional; after prune_after < steps steps, only the starting points picked by
        prune(alpha, beta, gamma, value) -> int32 [batch, K'] (indices into K, the angles and C reached so far, each
        [batch, K]) take the remaining steps (the ascent's cost is per point and per step).

    Returns:
      (alpha, beta, gamma, value): [batch, K] each ([batch, K'] with prune); value = C at the returned angles, never
      below the start value.
    """
    with tf.name_scope("torus_ascent"):
        p = tf.convert_to_tensor(p)
        L = _check_compact(p)
        x = tf.stack([tf.cast(a, p.dtype) for a in (alpha, beta, gamma)], axis=-1)
        # The m = n = k = 0 term is a constant (it holds the l = 0 part, often most of C): it is left out while
        # ascending, so round-off in the comparisons of C is relative to its variation, and added back at the end.
        constant = p[:, 0, L - 1, 0, 0][:, None]
        mask = np.ones(p.shape[1:], p.dtype.as_numpy_dtype)
        mask[0, L - 1, 0, 0] = 0
        prepared = _prepare(p * mask)
        if steps == 0:
            return (*tf.unstack(x, axis=-1), _evaluate(prepared, L, *tf.unstack(x, axis=-1), order=0) + constant)
        value, grad, hess = _evaluate(prepared, L, *tf.unstack(x, axis=-1), order=2)
        radius = tf.fill(tf.shape(value), tf.constant(np.pi / L if max_step is None else max_step, p.dtype))

        def body(x, value, grad, hess, radius):
            step = _ascent_step(grad, hess)
            da, db, dg = tf.unstack(step, axis=-1)
            length = tf.sqrt(tf.maximum(da * da + db * db + dg * dg + 2 * tf.cos(x[..., 1]) * da * dg, 0.0))
            trial = x + step * tf.minimum(radius / tf.maximum(length, 1e-30), 1.0)[..., None]
            trial = tf.stack([_wrap(trial[..., 0]), trial[..., 1], _wrap(trial[..., 2])], axis=-1)
            t_value, t_grad, t_hess = _evaluate(prepared, L, *tf.unstack(trial, axis=-1), order=2)
            accept = t_value >= value
            return (tf.where(accept[..., None], trial, x), tf.where(accept, t_value, value),
                    tf.where(accept[..., None], t_grad, grad), tf.where(accept[..., None, None], t_hess, hess),
                    tf.where(accept, radius, radius / 4))

        state = (x, value, grad, hess, radius)
        if prune is not None and prune_after is not None and prune_after < steps:
            state = tf.while_loop(lambda *_: True, body, state, maximum_iterations=prune_after)
            pick = prune(*tf.unstack(state[0], axis=-1), state[1] + constant)
            state = tuple(tf.gather(t, pick, batch_dims=1) for t in state)
            steps -= prune_after
        x, value, *_ = tf.while_loop(lambda *_: True, body, state, maximum_iterations=steps)
        return (*tf.unstack(x, axis=-1), value + constant)
