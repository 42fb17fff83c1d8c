"""Spherical and SO(3) math: stateless functions, no weights (DESIGN.md §3).

  grids.py      equiangular 2B x 2B sphere grid, quadrature and area weights, the SO(3) Euler grid (numpy-only)
  shapes.py     static shape / argument checks shared by every sub-package (numpy-only)
  harmonics.py  spherical harmonic transforms sht / isht (complex and real bases, separable and dense)
  wigner.py     Wigner-d tables (eigenvectors of J_y), wigner_d, wigner_D
  rotations.py  Euler angles <-> matrices, geodesic angle, rotations of coefficients and of sphere maps, bilinear
                sampling of maps at any unit vectors
  so3.py        SO(3) utilities of the baselines: Procrustes (Horn), chordal angle, 6D -> matrix, is_rotation

Conventions: maps `[..., 2B, 2B, C]` (axis -3 theta north->south, axis -2 phi); coefficients `[..., L, 2L-1]` with
m at index m + L - 1; R(alpha, beta, gamma) = Rz(alpha) Ry(beta) Rz(gamma), active; (Lambda_R f)(w) = f(R^T w).
"""
