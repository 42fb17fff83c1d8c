"""SO(3) cross-correlation of multi-channel spherical maps, spectral (DESIGN.md §3).

For maps f, h `[batch, 2B, 2B, C]` (axis 1 theta north->south, axis 2 phi):

  C(R) = sum_c <f_c, Lambda_R h_c> = sum_l sum_{m,n} Chat^l_{mn} conj(D^l_{mn}(R)),
  Chat^l_{mn} = sum_c f_c^l_m conj(h_c^l_n),

with (Lambda_R h)(w) = h(R^T w), D^l_{mn}(alpha, beta, gamma) = e^{-i m alpha} d^l_{mn}(beta) e^{-i n gamma} and
R = Rz(alpha) Ry(beta) Rz(gamma). Hence C(alpha, beta, gamma) = sum_{m,n} e^{i m alpha} e^{i n gamma} S_{mn}(beta)
with S_{mn}(beta) = sum_l Chat^l_{mn} d^l_{mn}(beta): a Wigner-d transform over l on the beta grid, then a 2D inverse
FFT over (m, n), zero-padded to the output bandwidth B' >= B (exact on SO(3); no planar interpolation).

Checkable properties: C(R) equals a quadrature of sum_c <f_c, Lambda_R h_c> on the sphere grid; C is maximal at R0
when f = Lambda_{R0} h; the grid is `so3_grid(B')`: alpha_j = gamma_j = 2 pi j / (2B'), beta_k = pi (2k+1) / (4B').

Storage: Chat is `[batch, L, 2L-1, 2L-1]`, m at index m + L - 1 (axis -2), n at index n + L - 1 (axis -1); the
correlation grid is `[batch, 2B' (alpha), 2B' (beta), 2B' (gamma)]`.
"""

import functools

import numpy as np
import tensorflow as tf

from sphembed.models.grids import bandwidth_of, check_bandwidth
from sphembed.models.harmonics import sht
from sphembed.models.wigner import _dl_table_np, _jy_eig_np, wigner_D

__all__ = [
    "correlation_coefficients",
    "correlation_tables",
    "correlation_grid",
    "correlation_at",
    "so3_correlation",
    "torus_coefficients",
    "check_map_pair",
]


def check_map_pair(f, h):
    """Raises ValueError unless f and h are both `[batch, 2B, 2B, C]` with equal static shapes; returns B."""
    for name, x in (("f", f), ("h", h)):
        if x.shape.rank != 4:
            raise ValueError(f"{name} must have shape [batch, 2B, 2B, C], got {x.shape}")
    B = bandwidth_of(f, "f")
    bandwidth_of(h, "h")
    if not f.shape[1:].is_compatible_with(h.shape[1:]) or not f.shape[:1].is_compatible_with(h.shape[:1]):
        raise ValueError(f"f and h must have the same shape [batch, 2B, 2B, C], got f {f.shape} and h {h.shape}")
    return B


def _check_out_bandwidth(L, out_bandwidth):
    check_bandwidth(out_bandwidth)
    if out_bandwidth < L:
        raise ValueError(f"out_bandwidth={out_bandwidth} must be >= the input bandwidth {L}")


@functools.lru_cache(maxsize=None)
def _grid_table_np(L, Bp):
    """d^l_{mn}(beta_k) for n >= 0, reordered for a matmul over l: float64 [(2L-1) * L (m, n>=0), L (l), 2B' (k)]."""
    d = _dl_table_np(L, Bp)[..., L - 1 :]  # [2B', L, 2L-1, L]
    t = np.ascontiguousarray(np.transpose(d, (2, 3, 1, 0)).reshape((2 * L - 1) * L, L, 2 * Bp))
    t.setflags(write=False)
    return t


def correlation_tables(L, out_bandwidth, dtype="float32"):
    """The Wigner-d table of `correlation_grid`, built once so a loop can pass it in.

    Args:
      L: int, degrees l = 0..L-1 of Chat.
      out_bandwidth: int B' >= L, bandwidth of the SO(3) grid.
      dtype: "float32" or "float64".

    Returns:
      Tensor [(2L-1) * L, L, 2B']: d^l_{mn}(beta_k) at row (m + L - 1) * L + n for n = 0..L-1.
    """
    _check_out_bandwidth(L, out_bandwidth)
    return tf.constant(_grid_table_np(L, out_bandwidth), dtype=dtype)


def correlation_coefficients(f, h):
    """Chat^l_{mn} = sum_c f_c^l_m conj(h_c^l_n) from the SHTs of f and h (degrees l < B).

    Args:
      f, h: float32/float64 [batch, 2B, 2B, C]; axis 1 is theta (north->south), axis 2 is phi.

    Returns:
      complex [batch, L=B, 2L-1, 2L-1]; m at index m + L - 1, n at index n + L - 1.

    Raises:
      ValueError: if f or h is not [batch, 2B, 2B, C] or their shapes differ.
    """
    with tf.name_scope("correlation_coefficients"):
        f, h = tf.convert_to_tensor(f), tf.convert_to_tensor(h)
        check_map_pair(f, h)
        flm, hlm = sht(f), sht(tf.cast(h, f.dtype))  # [batch, C, L, 2L-1]
        return tf.einsum("bclm,bcln->blmn", flm, tf.math.conj(hlm))


def correlation_grid(chat, out_bandwidth=None, tables=None):
    """C on the SO(3) grid of bandwidth B' from Chat: Wigner-d transform over l, then a 2D inverse real FFT.

    Args:
      chat: complex [batch, L, 2L-1, 2L-1] of real maps (Chat^l_{-m,-n} = (-1)^{m+n} conj(Chat^l_{mn})), m at
        index m + L - 1, n at index n + L - 1.
      out_bandwidth: int B' >= L (default L).
      tables: optional `correlation_tables(L, B')`, built if None.

    Returns:
      real [batch, 2B' (alpha), 2B' (beta), 2B' (gamma)]: C(alpha_j, beta_k, gamma_i) on `so3_grid(B')`.

    Raises:
      ValueError: if chat is not [batch, L, 2L-1, 2L-1] complex or B' < L.
    """
    with tf.name_scope("correlation_grid"):
        chat = tf.convert_to_tensor(chat)
        if (not chat.dtype.is_complex or chat.shape.rank != 4 or chat.shape[2] != 2 * chat.shape[1] - 1
                or chat.shape[3] != chat.shape[2]):
            raise ValueError(f"chat must be complex [batch, L, 2L-1, 2L-1], got {chat.dtype.name} {chat.shape}")
        L = chat.shape[1]
        Bp = L if out_bandwidth is None else out_bandwidth
        _check_out_bandwidth(L, Bp)
        N, M = 2 * Bp, 2 * L - 1
        rdt = tf.float64 if chat.dtype == tf.complex128 else tf.float32
        table = correlation_tables(L, Bp, rdt) if tables is None else tf.cast(tables, rdt)
        b = tf.shape(chat)[0]
        # S_{mn}(beta_k) = sum_l Chat^l_{mn} d^l_{mn}(beta_k) for n >= 0 (C is real: S_{-m,-n} = conj(S_{mn})),
        # one matmul per (m, n) with real and imaginary parts stacked along the batch.
        x = tf.transpose(chat[..., L - 1 :], (2, 3, 0, 1))  # [M, L(n>=0), batch, L(l)]
        x = tf.reshape(tf.concat([tf.math.real(x), tf.math.imag(x)], axis=2), [M * L, 2 * b, L])
        s = tf.reshape(tf.matmul(x, table), [M, L, 2, b, N])
        s = tf.transpose(tf.complex(s[:, :, 0], s[:, :, 1]), (2, 3, 0, 1))  # [batch, N(beta), M(m), L(n)]
        # Zero-pad to the FFT grid: m at index m mod 2B', n = 0..B'.
        zeros = tf.zeros_like(s[:, :, :1, :1])
        s = tf.concat([s[:, :, L - 1 :], tf.tile(zeros, [1, 1, N - M, L]), s[:, :, : L - 1]], axis=2)
        s = tf.concat([s, tf.tile(zeros, [1, 1, N, Bp + 1 - L])], axis=3)
        c = tf.signal.irfft2d(s, fft_length=[N, N]) * float(N * N)  # [batch, beta, alpha, gamma]
        return tf.transpose(c, (0, 2, 1, 3))


def correlation_at(chat, alpha, beta, gamma):
    """Exact C(alpha, beta, gamma) = Re sum_l sum_{m,n} Chat^l_{mn} conj(D^l_{mn}(alpha, beta, gamma)).

    Args:
      chat: complex [batch, L, 2L-1, 2L-1], m at index m + L - 1, n at index n + L - 1.
      alpha, beta, gamma: float [batch, ...], ZYZ Euler angles of R = Rz(alpha) Ry(beta) Rz(gamma).

    Returns:
      real [batch, ...].
    """
    with tf.name_scope("correlation_at"):
        chat = tf.convert_to_tensor(chat)
        rdt = tf.float64 if chat.dtype == tf.complex128 else tf.float32
        alpha, beta, gamma = (tf.cast(tf.convert_to_tensor(a, dtype_hint=rdt), rdt) for a in (alpha, beta, gamma))
        D = wigner_D(alpha, beta, gamma, chat.shape[1])  # [batch, ..., L, M, M]
        extra = D.shape.rank - 4
        chat = tf.reshape(chat, tf.concat([tf.shape(chat)[:1], tf.ones([extra], tf.int32), tf.shape(chat)[1:]], 0))
        return tf.reduce_sum(tf.math.real(chat * tf.math.conj(D)), axis=[-3, -2, -1])


def so3_correlation(f, h, out_bandwidth=None, tables=None):
    """SO(3) cross-correlation C(R) = sum_c <f_c, Lambda_R h_c> on the grid of bandwidth B'.

    Args:
      f, h: float32/float64 [batch, 2B, 2B, C]; axis 1 is theta (north->south), axis 2 is phi.
      out_bandwidth: int B' >= B (default B); larger B' samples C more finely (zero-padding in frequency).
      tables: optional `correlation_tables(B, B')`.

    Returns:
      float [batch, 2B' (alpha), 2B' (beta), 2B' (gamma)] on `so3_grid(B')`; argmax is the rotation R with
      Lambda_R h ~ f.

    Raises:
      ValueError: if f or h is not [batch, 2B, 2B, C], their shapes differ, or B' < B.
    """
    with tf.name_scope("so3_correlation"):
        return correlation_grid(correlation_coefficients(f, h), out_bandwidth, tables)


@functools.lru_cache(maxsize=None)
def _torus_table_np(L):
    """W[m, n, l, k] = V^l_{mk} conj(V^l_{nk}) so that d^l_{mn}(beta) = sum_k W[m, n, l, k] e^{-i k beta}.

    complex128 [(2L-1)^2, L, 2L-1] (rows (m + L - 1) * (2L-1) + n + L - 1; k at index k + L - 1).
    """
    V = _jy_eig_np(L)
    M = 2 * L - 1
    w = np.einsum("lmk,lnk->mnlk", V, V.conj()).reshape(M * M, L, M)
    w.setflags(write=False)
    return w


def torus_coefficients(chat):
    """Fourier coefficients of C on the 3-torus: C = Re sum A_{mnk} e^{i(m alpha + n gamma - k beta)}.

    A_{mnk} = sum_l Chat^l_{mn} V^l_{mk} conj(V^l_{nk}), with d^l = V diag(e^{-i k beta}) V^H (`jy_eigenvectors`).
    Derivatives of C in the Euler angles are then exact and cheap (used by the refinement in `align`).

    Args:
      chat: complex [batch, L, 2L-1, 2L-1], m at index m + L - 1, n at index n + L - 1.

    Returns:
      complex [batch, 2L-1 (m), 2L-1 (n), 2L-1 (k)], each at index . + L - 1.
    """
    with tf.name_scope("torus_coefficients"):
        chat = tf.convert_to_tensor(chat)
        L = chat.shape[1]
        M = 2 * L - 1
        w = tf.constant(_torus_table_np(L), dtype=chat.dtype)  # [M*M, L, M]
        x = tf.reshape(tf.transpose(chat, (2, 3, 0, 1)), [M * M, -1, L])  # [M*M, batch, L]
        a = tf.matmul(x, w)  # [M*M, batch, M(k)]
        return tf.transpose(tf.reshape(a, [M, M, -1, M]), (2, 0, 1, 3))
