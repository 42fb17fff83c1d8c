"""SO(3) cross-correlation of multi-channel spherical maps, spectral (DESIGN.md §3).

For maps f, h `[batch, 2B, 2B, C]` (axis 1 theta north->south, axis 2 phi):

  C(R) = sum_c <f_c, Lambda_R h_c> = sum_l sum_{m,n} Chat^l_{mn} conj(D^l_{mn}(R)),
  Chat^l_{mn} = sum_c f_c^l_m conj(h_c^l_n),

with (Lambda_R h)(w) = h(R^T w), D^l_{mn}(alpha, beta, gamma) = e^{-i m alpha} d^l_{mn}(beta) e^{-i n gamma} and
R = Rz(alpha) Ry(beta) Rz(gamma). Hence C(alpha, beta, gamma) = sum_{m,n} e^{i m alpha} e^{i n gamma} S_{mn}(beta)
with S_{mn}(beta) = sum_l Chat^l_{mn} d^l_{mn}(beta). The grid is evaluated through the torus form of C
(`sphembed.pose.torus`): S_{mn}(beta) = sum_k A_{mnk} e^{-i k beta}, one batched matmul over (m, n) to A, a cos/sin
transform over k on the beta grid, then DFTs over m and n at the output bandwidth B' >= B (exact on SO(3); no
planar interpolation). All are matmuls, so the cost per pair falls with the batch size.

The public functions check their arguments, then run a compiled function cached per (input shape, B', dtype)
(`sphembed.pose.compiled`): the first call traces and compiles, later calls do not rebuild tables.

Checkable properties: C(R) equals a quadrature of sum_c <f_c, Lambda_R h_c> on the sphere grid; C is maximal at R0
when f = Lambda_{R0} h; the grid is `so3_grid(B')`: alpha_j = gamma_j = 2 pi j / (2B'), beta_k = pi (2k+1) / (4B').

Storage: Chat is `[batch, L, 2L-1, 2L-1]`, m at index m + L - 1 (axis -2), n at index n + L - 1 (axis -1); the
correlation grid is `[batch, 2B' (alpha), 2B' (beta), 2B' (gamma)]`.
"""

import tensorflow as tf

from sphembed.models.sphere.harmonics import sht
from sphembed.models.sphere.shapes import bandwidth_of, check_bandwidth
from sphembed.models.sphere.wigner import wigner_D
from sphembed.pose.compiled import call_cached
from sphembed.pose.torus import check_chat, compact_torus, torus_coefficients, torus_grid, torus_grid_tables

__all__ = [
    "correlation_coefficients",
    "correlation_tables",
    "correlation_grid",
    "correlation_at",
    "so3_correlation",
    "torus_coefficients",
    "check_map_pair",
    "as_map_pair",
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


def correlation_tables(L, out_bandwidth, dtype="float32"):
    """The tables of `correlation_grid` (cos/sin and DFT matrices of `torus_grid`), so a caller can pass them in.

    Args:
      L: int, degrees l = 0..L-1 of Chat.
      out_bandwidth: int B' >= L, bandwidth of the SO(3) grid.
      dtype: "float32" or "float64".

    Returns:
      dict of Tensors, `sphembed.pose.torus.torus_grid_tables(L, B')`.

    Raises:
      ValueError: if B' < L.
    """
    _check_out_bandwidth(L, out_bandwidth)
    return torus_grid_tables(L, out_bandwidth, dtype)


def as_map_pair(f, h):
    """(f, h) as tensors of f's float dtype, checked by `check_map_pair`; returns (f, h, B)."""
    f = tf.convert_to_tensor(f)
    if f.dtype not in (tf.float32, tf.float64):
        f = tf.cast(f, tf.float32)
    h = tf.cast(tf.convert_to_tensor(h), f.dtype)
    return f, h, check_map_pair(f, h)


def _coefficients(f, h):
    flm, hlm = sht(f), sht(h)  # [batch, C, L, 2L-1]
    return tf.einsum("bclm,bcln->blmn", flm, tf.math.conj(hlm))


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
        f, h, _ = as_map_pair(f, h)
        return call_cached(_coefficients, [f, h])


def _grid(chat, tables=None, *, out_bandwidth):
    return torus_grid(compact_torus(chat), out_bandwidth, tables)


def _check_grid_args(chat, out_bandwidth):
    """(chat as a tensor, L, B'), raising ValueError for a bad chat or B' < L."""
    chat = tf.convert_to_tensor(chat)
    L = check_chat(chat)
    Bp = L if out_bandwidth is None else out_bandwidth
    _check_out_bandwidth(L, Bp)
    return chat, L, Bp


def correlation_grid(chat, out_bandwidth=None, tables=None):
    """C on the SO(3) grid of bandwidth B' from Chat (through the torus form, see module docstring).

    Args:
      chat: complex [batch, L, 2L-1, 2L-1] of real maps (Chat^l_{-m,-n} = (-1)^{m+n} conj(Chat^l_{mn})), m at
        index m + L - 1, n at index n + L - 1.
      out_bandwidth: int B' >= L (default L).
      tables: optional `correlation_tables(L, B')`; otherwise built once and cached.

    Returns:
      real [batch, 2B' (alpha), 2B' (beta), 2B' (gamma)]: C(alpha_j, beta_k, gamma_i) on `so3_grid(B')`.

    Raises:
      ValueError: if chat is not [batch, L, 2L-1, 2L-1] complex or B' < L.
    """
    with tf.name_scope("correlation_grid"):
        chat, _, Bp = _check_grid_args(chat, out_bandwidth)
        return call_cached(_grid, [chat], tables, out_bandwidth=Bp)


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


def _so3_correlation(f, h, tables=None, *, out_bandwidth):
    return _grid(_coefficients(f, h), tables, out_bandwidth=out_bandwidth)


def so3_correlation(f, h, out_bandwidth=None, tables=None):
    """SO(3) cross-correlation C(R) = sum_c <f_c, Lambda_R h_c> on the grid of bandwidth B'.

    Args:
      f, h: float32/float64 [batch, 2B, 2B, C]; axis 1 is theta (north->south), axis 2 is phi.
      out_bandwidth: int B' >= B (default B); larger B' samples C more finely (zero-padding in frequency).
      tables: optional `correlation_tables(B, B')`; otherwise built once and cached.

    Returns:
      float [batch, 2B' (alpha), 2B' (beta), 2B' (gamma)] on `so3_grid(B')`; argmax is the rotation R with
      Lambda_R h ~ f. Memory: 4 (2B')^3 bytes per pair in float32 for the grid (1 MiB at B' = 32).

    Raises:
      ValueError: if f or h is not [batch, 2B, 2B, C], their shapes differ, or B' < B.
    """
    with tf.name_scope("so3_correlation"):
        f, h, B = as_map_pair(f, h)
        Bp = B if out_bandwidth is None else out_bandwidth
        _check_out_bandwidth(B, Bp)
        return call_cached(_so3_correlation, [f, h], tables, out_bandwidth=Bp)
