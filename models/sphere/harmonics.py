"""Spherical harmonic transforms of grid maps (DESIGN.md §3).

Maps f: float `[..., 2B, 2B, C]` (axis -3 theta north->south, axis -2 phi). Coefficients: `[..., C, L, 2L-1]`,
degree l on axis -2, m at index m + L - 1 on axis -1, zeros for |m| > l, with L <= B.

Bases:
  * "complex": orthonormal Y_l^m with Condon-Shortley phase, Y_l^m(theta, phi) = scipy.special.sph_harm_y(l, m,
    theta, phi) = sqrt((2l+1)/(4 pi)) d^l_{m0}(theta) e^{i m phi}; flm = int f conj(Y_l^m). Complex dtype.
  * "real": orthonormal real harmonics Y_{l,m} = sqrt2 (-1)^m Re Y_l^m (m > 0), Y_l^0 (m = 0),
    sqrt2 (-1)^m Im Y_l^{|m|} (m < 0). Real dtype. For real f: r_{l,m} = sqrt2 (-1)^m Re f_lm and
    r_{l,-m} = -sqrt2 (-1)^m Im f_lm (m > 0).

Exactness: for f band-limited to l < B, sht(isht(flm)) == flm and isht(sht(f)) == f to float round-off
(Driscoll-Healy quadrature). Methods: "separable" (a DFT over phi, then a Legendre sum over theta per m >= 0,
both as matmuls with the batch and channels as columns) and "dense" (one matmul against the full
[4B^2, L(2L-1)] harmonic matrix). Separable is the default: benchmarks/bench_sht.py measures it at 2B = 64, C = 16,
batch 16 against dense and against a float32 matmul of the same FLOP count (README, "Performance"); its tables are
O(B L^2) instead of [4B^2, L(2L-1)].
"""

import functools

import numpy as np
import tensorflow as tf

from sphembed.models.sphere.grids import quadrature_weights, sphere_grid
from sphembed.models.sphere.shapes import bandwidth_of, check_bandwidth
from sphembed.models.sphere.wigner import jy_eigenvectors_np

__all__ = ["sht", "isht", "complex_to_real", "real_to_complex", "ylm_theta_table", "METHODS", "BASES"]

METHODS = ("separable", "dense")
BASES = ("complex", "real")


def _check_options(basis, method):
    if basis not in BASES:
        raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


@functools.lru_cache(maxsize=None)
def _ylm_theta_np(L, B):
    """Y_l^m(theta_j, 0) = sqrt((2l+1)/4pi) d^l_{m0}(theta_j), float64 [2B, L, 2L-1] (m at index m + L - 1)."""
    theta = sphere_grid(B, "float64")[0]
    V = jy_eigenvectors_np(L)
    k = np.arange(-(L - 1), L)
    phase = np.exp(-1j * np.outer(theta, k))
    dm0 = np.einsum("lmk,jk,lk->jlm", V, phase, V[:, L - 1, :].conj(), optimize=True).real
    y = dm0 * np.sqrt((2 * np.arange(L) + 1) / (4 * np.pi))[None, :, None]
    y.setflags(write=False)
    return y


@functools.lru_cache(maxsize=None)
def _separable_np(L, B):
    """Tables of the separable transforms, float64: "dft" [2L (cos, -sin) x m, 2B (k)] of e^{-i m phi_k};
    "analysis" [L (m), L (l), 2B (j)] = q_j Y_l^m(theta_j, 0); "synthesis" [L (m), 2B (j), L (l)] = Y_l^m(theta_j, 0);
    "idft" [2B (k), 2L] = (w_m cos(m phi_k), -w_m sin(m phi_k)), w_0 = 1, w_{m>0} = 2. m = 0..L-1."""
    phi = sphere_grid(B, "float64")[1]
    m = np.arange(L)
    y = _ylm_theta_np(L, B)[:, :, L - 1 :]  # [2B (j), L (l), L (m >= 0)]
    w = np.where(m == 0, 1.0, 2.0)
    tables = {"dft": np.concatenate([np.cos(np.outer(m, phi)), -np.sin(np.outer(m, phi))]),
              "analysis": np.transpose(quadrature_weights(B, "float64")[:, None, None] * y, (2, 1, 0)),
              "synthesis": np.ascontiguousarray(np.transpose(y, (2, 0, 1))),
              "idft": np.concatenate([w * np.cos(np.outer(phi, m)), -w * np.sin(np.outer(phi, m))], axis=1)}
    for table in tables.values():
        table.setflags(write=False)
    return tables


def ylm_theta_table(L, B, dtype="float32"):
    """Y_l^m(theta_j, 0) on the bandwidth-B colatitude grid: [2B, L, 2L-1], m at index m + L - 1."""
    check_bandwidth(B, L)
    return tf.constant(_ylm_theta_np(L, B), dtype=dtype)


@functools.lru_cache(maxsize=None)
def _dense_np(L, B):
    """Complex harmonic matrix Y[j, k, l, m + L - 1] = Y_l^m(theta_j, phi_k), complex128 [2B, 2B, L, 2L-1]."""
    phi = sphere_grid(B, "float64")[1]
    m = np.arange(-(L - 1), L)
    y = _ylm_theta_np(L, B)[:, None] * np.exp(1j * np.outer(phi, m))[None, :, None, :]
    y.setflags(write=False)
    return y


def _real_dtype(f):
    return tf.float64 if f.dtype in (tf.float64, tf.complex128) else tf.float32


def _complex_dtype(f):
    return tf.complex128 if f.dtype in (tf.float64, tf.complex128) else tf.complex64


def _signs(L, dtype):
    return tf.constant((-1.0) ** np.arange(1, L), dtype=dtype)  # (-1)^m, m = 1..L-1


def complex_to_real(flm):
    """Complex coefficients of a real map `[..., L, 2L-1]` -> real-basis coefficients `[..., L, 2L-1]`."""
    with tf.name_scope("complex_to_real"):
        flm = tf.convert_to_tensor(flm)
        L = flm.shape[-2]
        pos = flm[..., L:]  # m = 1..L-1
        s = _signs(L, _real_dtype(flm)) * np.sqrt(2.0)
        r_pos = s * tf.math.real(pos)
        r_neg = tf.reverse(-s * tf.math.imag(pos), axis=[-1])  # m = -(L-1)..-1
        return tf.concat([r_neg, tf.math.real(flm[..., L - 1 : L]), r_pos], axis=-1)


def real_to_complex(rlm):
    """Real-basis coefficients `[..., L, 2L-1]` -> complex coefficients of the same real map `[..., L, 2L-1]`."""
    with tf.name_scope("real_to_complex"):
        rlm = tf.convert_to_tensor(rlm)
        L = rlm.shape[-2]
        s = _signs(L, rlm.dtype) / np.sqrt(2.0)
        r_pos = rlm[..., L:]
        r_neg = tf.reverse(rlm[..., : L - 1], axis=[-1])  # m = 1..L-1 of the sin part
        pos = tf.complex(s * r_pos, -s * r_neg)
        neg = tf.reverse(tf.complex(r_pos, r_neg) / np.sqrt(2.0), axis=[-1])  # (-1)^m conj(f_lm)
        zero = tf.complex(rlm[..., L - 1 : L], tf.zeros_like(rlm[..., L - 1 : L]))
        return tf.concat([neg, zero, pos], axis=-1)


def _resolve_L(B, L):
    L = B if L is None else L
    check_bandwidth(B, L)
    return L


def sht(f, L=None, basis="complex", method="separable"):
    """Forward spherical harmonic transform.

    Args:
      f: float32/float64 [..., 2B, 2B, C]; axis -3 is theta (north->south), axis -2 is phi.
      L: int <= B, degrees l = 0..L-1 (default B).
      basis: "complex" (returns complex64/complex128) or "real" (returns f's dtype).
      method: "separable" (FFT + Legendre) or "dense" (one matmul).

    Returns:
      [..., C, L, 2L-1], m at index m + L - 1, zeros for |m| > l.

    Raises:
      ValueError: if f is not [..., 2B, 2B, C], L > B, or basis/method is unknown.
    """
    _check_options(basis, method)
    with tf.name_scope("sht"):
        f = tf.convert_to_tensor(f)
        if f.dtype not in (tf.float32, tf.float64):
            raise ValueError(f"f must be float32 or float64, got {f.dtype.name}")
        B = bandwidth_of(f)
        L = _resolve_L(B, L)
        rdt, cdt = _real_dtype(f), _complex_dtype(f)
        if method == "dense":
            x = tf.experimental.numpy.moveaxis(f, -1, -3)  # [..., C, 2B(theta), 2B(phi)]
            q = quadrature_weights(B, "float64")
            w = np.conj(_dense_np(L, B)) * q[:, None, None, None]
            w = tf.constant(w.reshape(4 * B * B, L * (2 * L - 1)), dtype=cdt)
            flat = tf.reshape(x, tf.concat([tf.shape(x)[:-2], [4 * B * B]], 0))
            out = tf.matmul(tf.cast(flat, cdt)[..., None, :], w)[..., 0, :]
            flm = tf.reshape(out, tf.concat([tf.shape(out)[:-1], [L, 2 * L - 1]], 0))
            return complex_to_real(flm) if basis == "real" else flm
        # separable, as three matmuls on [.., C] batches: X_{jm} = sum_k f_jk e^{-i m phi_k} (m = 0..L-1, a real
        # DFT), then flm = sum_j q_j Y_l^m(theta_j, 0) X_{jm} per m; channels and batch ride along as matmul columns.
        t = _separable_np(L, B)
        lead, C = tf.shape(f)[:-3], tf.shape(f)[-1]
        x = tf.reshape(tf.cast(f, rdt), [-1, 2 * B, 2 * B, C])
        n = tf.shape(x)[0]
        x = tf.reshape(tf.transpose(x, (2, 1, 0, 3)), [2 * B, -1])  # [k, (j, batch, c)]
        y = tf.reshape(tf.matmul(tf.constant(t["dft"], rdt), x), [2, L, 2 * B, -1])  # [re/im, m, j, (batch, c)]
        z = tf.matmul(tf.constant(t["analysis"], rdt)[None], y)  # [re/im, m, l, (batch, c)]
        z = tf.transpose(tf.reshape(z, [2, L, L, n, C]), (0, 3, 4, 2, 1))  # [re/im, batch, c, l, m >= 0]
        m = np.arange(-(L - 1), L)
        if basis == "real":  # r_{l,m} = s_m Re f_lm, r_{l,-m} = -s_m Im f_lm (m > 0), s_0 = 1, s_m = sqrt2 (-1)^m
            s_m = np.where(m == 0, 1.0, np.sqrt(2.0) * (-1.0) ** np.abs(m))
            out = (tf.gather(z[0], np.abs(m), axis=-1) * tf.constant(np.where(m >= 0, s_m, 0), rdt)
                   - tf.gather(z[1], np.abs(m), axis=-1) * tf.constant(np.where(m < 0, s_m, 0), rdt))
        else:  # f_{l,-m} = (-1)^m conj(f_lm)
            sign = np.where(m < 0, (-1.0) ** np.abs(m), 1.0)
            out = tf.complex(tf.gather(z[0], np.abs(m), axis=-1) * tf.constant(sign, rdt),
                             tf.gather(z[1], np.abs(m), axis=-1) * tf.constant(np.where(m < 0, -sign, 1.0), rdt))
        return tf.reshape(out, tf.concat([lead, [C, L, 2 * L - 1]], 0))

def isht(flm, B=None, basis="complex", method="separable"):
    """Inverse spherical harmonic transform (synthesis on the grid).

    Args:
      flm: [..., C, L, 2L-1], complex for basis "complex" (m at index m + L - 1), real for basis "real".
      B: int >= L, output bandwidth (default L).
      basis: "complex" or "real".
      method: "separable" or "dense".

    Returns:
      Real map [..., 2B, 2B, C]. For "complex", the real part of sum_lm flm Y_l^m: exact when flm are the
      coefficients of a real map (f_{l,-m} = (-1)^m conj(f_lm)).

    Raises:
      ValueError: if flm is not [..., L, 2L-1], B < L, or basis/method is unknown.
    """
    _check_options(basis, method)
    with tf.name_scope("isht"):
        flm = tf.convert_to_tensor(flm)
        if flm.shape.rank is None or flm.shape.rank < 3 or flm.shape[-1] != 2 * flm.shape[-2] - 1:
            raise ValueError(f"flm must have shape [..., C, L, 2L-1], got {flm.shape}")
        if basis == "complex" and not flm.dtype.is_complex:
            raise ValueError(f"basis 'complex' needs complex flm, got {flm.dtype.name}")
        if basis == "real" and flm.dtype.is_complex:
            raise ValueError(f"basis 'real' needs real flm, got {flm.dtype.name}")
        L = flm.shape[-2]
        B = L if B is None else B
        check_bandwidth(B, L)
        rdt, cdt = _real_dtype(flm), _complex_dtype(flm)
        if basis == "real":
            flm = real_to_complex(flm)
        if method == "dense":
            w = tf.constant(_dense_np(L, B).reshape(4 * B * B, L * (2 * L - 1)).T, dtype=cdt)
            flat = tf.reshape(flm, tf.concat([tf.shape(flm)[:-2], [L * (2 * L - 1)]], 0))
            x = tf.math.real(tf.matmul(flat[..., None, :], w)[..., 0, :])
            x = tf.reshape(x, tf.concat([tf.shape(x)[:-1], [2 * B, 2 * B]], 0))
            return tf.experimental.numpy.moveaxis(x, -3, -1)
        # separable: the real part of sum_lm flm Y_l^m has the half spectrum G_m(theta_j) = sum_l h_lm Y_l^m(theta_j, 0),
        # h_lm = (f_lm + (-1)^m conj(f_{l,-m})) / 2 (m >= 0; Y_l^{-m}(theta, 0) = (-1)^m Y_l^m(theta, 0)), and
        # f_jk = sum_m w_m Re(G_m(theta_j) e^{i m phi_k}), w_0 = 1, w_{m>0} = 2: two matmuls on [.., C] batches.
        t = _separable_np(L, B)
        lead, C = tf.shape(flm)[:-3], tf.shape(flm)[-3]
        flm = tf.reshape(flm, [-1, C, L, 2 * L - 1])
        n = tf.shape(flm)[0]
        sign = tf.constant((-1.0) ** np.arange(L), cdt)
        h = (flm[..., L - 1 :] + tf.math.conj(tf.reverse(flm[..., :L], axis=[-1])) * sign) / 2  # [batch, c, l, m]
        h = tf.reshape(tf.transpose(tf.stack([tf.math.real(h), tf.math.imag(h)]), (0, 4, 3, 1, 2)), [2, L, L, -1])
        g = tf.matmul(tf.constant(t["synthesis"], rdt)[None], h)  # [re/im, m, j, (batch, c)]
        x = tf.matmul(tf.constant(t["idft"], rdt), tf.reshape(g, [2 * L, -1]))  # [k, (j, batch, c)]
        x = tf.transpose(tf.reshape(x, [2 * B, 2 * B, n, C]), (2, 1, 0, 3))  # [batch, j, k, c]
        return tf.reshape(x, tf.concat([lead, [2 * B, 2 * B, C]], 0))
