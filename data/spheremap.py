"""Sphere maps of meshes by ray casting (trimesh + embree), on the DESIGN.md grid at any bandwidth. TF-free.

For each grid point w of the unit sphere (`sphembed.models.sphere.grids.sphere_points(B)`: theta north->south on axis 0,
phi on axis 1) one ray starts at w and travels toward the origin (direction -w). With t the distance travelled to
the first hit:
  channel 0 = 1 - t: the radius of the hit point when it lies before the centre, and minus its radius when the ray
              passed the centre first (so it lies in [-1, 1] for a normalized mesh); 0 when the ray hits nothing.
  channel 1 = |cos| of the angle between the ray and the face normal at the hit (two-sided surfaces); 0 on a miss.
Properties (tests/test_data_spheremap.py): a centred sphere of radius r gives channel 0 = r and channel 1 = 1
(up to faceting); the map of the mesh rotated by R equals rotate_map(map, R) (Lambda_R f(w) = f(R^T w)) up to
sampling error.
"""

import numpy as np

from sphembed.models.sphere.grids import sphere_points
from sphembed.models.sphere.shapes import check_bandwidth

__all__ = ["sphere_map"]

# Rays start this far outside the unit sphere so that vertices at exactly radius 1 are hit; t is measured from w.
_START = 1e-4


def sphere_map(mesh, B):
    """Ray-cast sphere map of a (normalized) mesh.

    Args:
      mesh: trimesh.Trimesh inside the unit ball (e.g. from `load_mesh` / `make_shape`, possibly rotated).
      B: bandwidth; the grid is 2B x 2B.

    Returns:
      np.float32 [2B, 2B, 2]; axis 0 is theta (north->south), axis 1 is phi; channels (1 - distance travelled,
      |cos(ray, normal)|), both 0 where the ray misses.

    Raises:
      ValueError: on a bad bandwidth.
    """
    check_bandwidth(B)
    w = sphere_points(B).reshape(-1, 3)
    origins = w * (1.0 + _START)
    locations, index_ray, index_tri = mesh.ray.intersects_location(origins, -w, multiple_hits=False)
    out = np.zeros((len(w), 2), np.float64)
    t = np.einsum("ij,ij->i", origins[index_ray] - locations, w[index_ray]) - _START
    out[index_ray, 0] = 1.0 - t
    out[index_ray, 1] = np.abs(np.einsum("ij,ij->i", mesh.face_normals[index_tri], w[index_ray]))
    return out.reshape(2 * B, 2 * B, 2).astype(np.float32)
