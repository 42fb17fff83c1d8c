"""Wigner small-d and Wigner-D matrices (DESIGN.md §3).

Convention: D^l_{mn}(alpha, beta, gamma) = exp(-i m alpha) d^l_{mn}(beta) exp(-i n gamma), R = Rz(alpha) Ry(beta) Rz(gamma)
(ZYZ, active, right-handed); the convention of SOFT and s2fft, the complex conjugate of lie_learn's D.
Checkable properties: d^1_{1,0}(beta) = -sin(beta)/sqrt(2); d^l(0) = I; d^l(beta) is orthogonal;
D(R1 R2) = D(R1) D(R2); (Lambda_R f)^l_m = sum_n D^l_{mn}(R) f^l_n for (Lambda_R f)(w) = f(R^T w).

Storage: tables are `[..., L, 2L-1, 2L-1]`, degree l on axis -3, m at index m + L - 1 (axis -2), n at index
n + L - 1 (axis -1); entries with |m| > l or |n| > l are zero.

Method: d^l(beta) = exp(-i beta J_y) = V_l diag(exp(-i k beta)) V_l^H, with V_l the eigenvectors of the angular
momentum matrix J_y of degree l (eigenvalue k in column k + L - 1). This is the Fourier series of d^l in beta
(the content of the d(pi/2) Fourier identity); V_l is computed once per l by a Hermitian eigensolver in float64,
which is stable to l = 128 and beyond (eigenvalues are the integers -l..l, gap 1), and needs no factorials.
"""

import functools

import numpy as np
import tensorflow as tf

from sphembed.models.sphere.grids import sphere_grid
from sphembed.models.sphere.shapes import check_bandwidth, check_degree_limit

__all__ = ["wigner_d_table", "wigner_d", "wigner_D", "wigner_d_np", "jy_eigenvectors", "jy_eigenvectors_np"]


@functools.lru_cache(maxsize=None)
def _jy_eig_np(L):
    """V [L, 2L-1, 2L-1] complex128: V[l, m + L - 1, k + L - 1] = <l m | eigenvector of J_y with eigenvalue k>."""
    V = np.zeros((L, 2 * L - 1, 2 * L - 1), dtype=np.complex128)
    for l in range(L):
        m = np.arange(-l, l)  # J+ |l m> = sqrt(l(l+1) - m(m+1)) |l m+1>
        jp = np.zeros((2 * l + 1, 2 * l + 1))
        jp[m + l + 1, m + l] = np.sqrt(l * (l + 1) - m * (m + 1))
        jy = (jp - jp.T) / 2j
        w, v = np.linalg.eigh(jy)
        k = np.rint(w).astype(int)
        if not np.array_equal(k, np.arange(-l, l + 1)) or np.abs(w - k).max() > 1e-8:
            raise RuntimeError(f"J_y eigenvalues at l={l} are not -l..l (max deviation {np.abs(w - k).max():.2e})")
        V[l, L - 1 - l : L + l, L - 1 - l : L + l] = v
    V.setflags(write=False)
    return V


def jy_eigenvectors_np(L):
    """Eigenvectors of J_y per degree in numpy: complex128 [L, 2L-1, 2L-1], V[l, m + L - 1, k + L - 1] =
    <l m | eigenvector of J_y with eigenvalue k>, so that d^l(beta) = V_l diag(e^{-i k beta}) V_l^H (a fresh copy
    of the cached table)."""
    check_degree_limit(L)
    return np.array(_jy_eig_np(L))


def jy_eigenvectors(L, dtype="complex64"):
    """Eigenvectors of J_y per degree, `[L, 2L-1, 2L-1]`, m at index m + L - 1, eigenvalue k at index k + L - 1."""
    check_degree_limit(L)
    return tf.constant(_jy_eig_np(L), dtype=dtype)


def wigner_d_np(L, beta):
    """Wigner small-d in float64 numpy.

    Args:
      L: int, degrees l = 0..L-1.
      beta: float array of shape [N], angles in radians.

    Returns:
      float64 [N, L, 2L-1, 2L-1]; entry [i, l, m + L - 1, n + L - 1] = d^l_{mn}(beta_i).
    """
    check_degree_limit(L)
    beta = np.atleast_1d(np.asarray(beta, dtype=np.float64))
    V = _jy_eig_np(L)
    k = np.arange(-(L - 1), L)
    phase = np.exp(-1j * np.outer(beta, k))  # [N, 2L-1]
    d = np.einsum("lmk,ik,lnk->ilmn", V, phase, V.conj(), optimize=True)
    return d.real


@functools.lru_cache(maxsize=None)
def _dl_table_np(L, B):
    d = wigner_d_np(L, sphere_grid(B, "float64")[0])
    d.setflags(write=False)
    return d


def wigner_d_table(L, B, dtype="float32"):
    """d^l_{mn}(beta_j) on the colatitude grid of bandwidth B.

    Args:
      L: int, degrees l = 0..L-1 (L <= B is not required; the table is exact for any L).
      B: int, grid bandwidth; beta_j = pi (2j+1)/(4B), j = 0..2B-1.
      dtype: "float32" or "float64".

    Returns:
      Tensor [2B, L, 2L-1, 2L-1]; m at index m + L - 1, n at index n + L - 1. A fresh tensor built from a cached
      float64 table.
    """
    check_degree_limit(L)
    check_bandwidth(B)
    return tf.constant(_dl_table_np(L, B), dtype=dtype)


def wigner_d(beta, L, tables=None):
    """Wigner small-d at arbitrary angles, differentiable in beta.

    Args:
      beta: float [...], radians.
      L: int, degrees l = 0..L-1.
      tables: optional output of `jy_eigenvectors(L, complex dtype)`; built if None.

    Returns:
      Tensor [..., L, 2L-1, 2L-1] of beta's real dtype; m at index m + L - 1, n at index n + L - 1.
    """
    with tf.name_scope("wigner_d"):
        beta = tf.convert_to_tensor(beta)
        cdtype = tf.complex128 if beta.dtype == tf.float64 else tf.complex64
        V = jy_eigenvectors(L, cdtype) if tables is None else tf.cast(tables, cdtype)
        k = tf.cast(tf.range(-(L - 1), L), beta.dtype)
        phase = tf.exp(tf.complex(tf.zeros_like(beta[..., None] * k), -beta[..., None] * k))
        d = tf.einsum("lmk,...k,lnk->...lmn", V, phase, tf.math.conj(V))
        return tf.math.real(d)


def wigner_D(alpha, beta, gamma, L, tables=None):
    """Wigner-D matrices D^l_{mn}(alpha, beta, gamma) = exp(-i m alpha) d^l_{mn}(beta) exp(-i n gamma).

    Args:
      alpha, beta, gamma: float [...], ZYZ Euler angles of R = Rz(alpha) Ry(beta) Rz(gamma).
      L: int, degrees l = 0..L-1.
      tables: optional `jy_eigenvectors(L)`.

    Returns:
      complex [..., L, 2L-1, 2L-1]; m at index m + L - 1, n at index n + L - 1. D(R1 R2) = D(R1) D(R2).
    """
    with tf.name_scope("wigner_D"):
        alpha, beta, gamma = (tf.convert_to_tensor(a) for a in (alpha, beta, gamma))
        d = wigner_d(beta, L, tables)
        cdtype = tf.complex128 if d.dtype == tf.float64 else tf.complex64
        m = tf.cast(tf.range(-(L - 1), L), d.dtype)
        ea = tf.exp(tf.complex(tf.zeros_like(alpha[..., None] * m), -alpha[..., None] * m))  # [..., 2L-1]
        eg = tf.exp(tf.complex(tf.zeros_like(gamma[..., None] * m), -gamma[..., None] * m))
        return ea[..., None, :, None] * tf.cast(d, cdtype) * eg[..., None, None, :]
