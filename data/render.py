"""Headless rendering with pyrender (EGL, else OSMesa) in spawned worker processes that never import TensorFlow.

Camera (DESIGN.md §3): on the +z axis at distance CAMERA_DISTANCE, looking at the origin, y up, perspective with
vertical field of view YFOV = 2 asin(1 / CAMERA_DISTANCE), so the silhouette of the unit sphere is the circle
inscribed in the square image. A view in pose R renders the vertices R v. Pinhole model (checked in
tests/test_data_render.py): a point p projects to column u = W/2 + F p_x / (D - p_z) and row v = H/2 - F p_y / (D - p_z)
(pixel centres at half-integers, row 0 at the top), F = (H/2) / tan(YFOV/2), D = CAMERA_DISTANCE.

Outputs: image uint8 [H, W, 1] (gray: one white headlight shining along the camera axis plus ambient, so a surface's
shade depends only on its angle to the viewing direction and turning the object about the camera axis turns the
image with its shading) or [H, W, 3] (rgb:
red, green and blue lights from three directions, so colour encodes surface orientation), anti-aliased (4x
multisampling), background 0; mask uint8 [H, W]: 1 where the object covers at least half of the pixel (resolved
alpha), so silhouettes are centred on the pinhole model; depth float32 [H, W]: camera z distance, 0 on background.
pyrender copies depth from ONE multisample position (a fraction of a pixel off the pixel centre), so depth > 0 and
mask may differ on silhouette border pixels.
Surfaces are two-sided: both sides of a triangle are lit alike, whatever its winding (polygon soups).

TensorFlow >= 2.20 and Mesa's llvmpipe crash in one process, so rendering only happens in worker processes started
with multiprocessing "spawn" (`worker_pool`), whose imports (this module, trimesh, pyrender, numpy) never pull in
TensorFlow.
"""

import functools
import multiprocessing
import os

import numpy as np
import trimesh

from sphembed.data.gl_backend import require_backend

__all__ = ["CAMERA_DISTANCE", "YFOV", "COLORS", "focal_length_pixels", "Renderer", "render_view", "worker_pool"]

CAMERA_DISTANCE = 3.0
YFOV = 2.0 * np.arcsin(1.0 / CAMERA_DISTANCE)
COLORS = ("gray", "rgb")

# (direction the light shines along, in camera coordinates; RGB intensity)
_LIGHTS = {
    # A headlight: invariant to turns about the camera axis, the one rotation a view can be mapped by exactly (an
    # upper-left light made the shading of a view turned by 90 degrees differ from the render of the turned
    # object by 0.2 of the intensity range, median over the object; issue 13).
    "gray": [((0.0, 0.0, -1.0), (2.2, 2.2, 2.2))],
    "rgb": [((1.0, -0.5, -1.0), (3.0, 0.0, 0.0)), ((-1.0, -0.5, -1.0), (0.0, 3.0, 0.0)),
            ((0.0, 1.0, -1.0), (0.0, 0.0, 3.0))],
}
_AMBIENT = 0.25


def focal_length_pixels(image_size):
    """F = (H/2) / tan(YFOV/2) in pixels for a square image of side `image_size`."""
    return 0.5 * image_size / np.tan(YFOV / 2)


def _pose_looking_along(direction):
    """4x4 pose whose -z axis points along `direction` (pyrender lights and cameras look down their -z)."""
    return trimesh.geometry.align_vectors([0, 0, -1], np.asarray(direction, float) / np.linalg.norm(direction))


class Renderer:
    """An offscreen pyrender renderer with the fixed camera; create inside a worker process.

    Args:
      image_size: side H = W of the square images.
      color: "gray" (1 channel) or "rgb" (3 channels).

    Raises:
      ValueError: unknown color or image_size < 8.
    """

    def __init__(self, image_size, color="gray"):
        if color not in COLORS:
            raise ValueError(f"color must be one of {COLORS}, got {color!r}")
        if int(image_size) < 8:
            raise ValueError(f"image_size must be >= 8, got {image_size}")
        # Not at module level: importing pyrender loads PyOpenGL, which fixes its platform from PYOPENGL_PLATFORM
        # then, and a spawned worker imports this module (to find `_init_worker`) before that initializer sets it;
        # and processes that import this module for its constants or `worker_pool` (make-data's main process,
        # KeypointNet's with TensorFlow) must not load OpenGL.
        import pyrender

        self._pyrender = pyrender
        self.image_size, self.color = int(image_size), color
        self._renderer = pyrender.OffscreenRenderer(self.image_size, self.image_size)
        # Two-sided surfaces: every triangle is drawn twice, once per winding, with back-face culling, so each side
        # is lit with the normal that faces the camera (pyrender's doubleSided keeps the normal of one side only).
        self._material = pyrender.MetallicRoughnessMaterial(baseColorFactor=(0.8, 0.8, 0.8, 1.0), metallicFactor=0.0,
                                                            roughnessFactor=0.8, doubleSided=False)
        self._camera_pose = np.eye(4)
        self._camera_pose[2, 3] = CAMERA_DISTANCE

    def render(self, mesh, R=None):
        """Renders mesh in pose R (vertices R v).

        Args:
          mesh: trimesh.Trimesh (normalized, inside the unit ball).
          R: float [3, 3] rotation, default identity.

        Returns:
          (image uint8 [H, W, 1|3], depth float32 [H, W], mask uint8 [H, W]).
        """
        pyrender = self._pyrender
        pose = np.eye(4)
        if R is not None:
            pose[:3, :3] = R
        scene = pyrender.Scene(bg_color=(0.0, 0.0, 0.0, 0.0), ambient_light=(_AMBIENT,) * 3)
        faces = np.asarray(mesh.faces)
        both = trimesh.Trimesh(mesh.vertices, np.concatenate([faces, faces[:, ::-1]]), process=False)
        scene.add(pyrender.Mesh.from_trimesh(both, material=self._material, smooth=False), pose=pose)
        scene.add(pyrender.PerspectiveCamera(yfov=YFOV, znear=0.1, zfar=2 * CAMERA_DISTANCE),
                  pose=self._camera_pose)
        for direction, rgb in _LIGHTS[self.color]:
            intensity = max(rgb)
            light = pyrender.DirectionalLight(color=np.array(rgb) / intensity, intensity=intensity)
            scene.add(light, pose=self._camera_pose @ _pose_looking_along(direction))
        color, depth = self._renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
        image = color[..., :1] if self.color == "gray" else color[..., :3]
        mask = (color[..., 3] >= 128).astype(np.uint8)  # alpha = multisample coverage
        return np.ascontiguousarray(image), depth.astype(np.float32), mask

    def close(self):
        self._renderer.delete()


@functools.lru_cache(maxsize=4)
def _worker_renderer(image_size, color):
    return Renderer(image_size, color)


def render_view(mesh, R, image_size, color="gray"):
    """Renders one view with this process's cached Renderer (call inside a worker; see `Renderer.render`)."""
    return _worker_renderer(int(image_size), color).render(mesh, R)


def _init_worker(backend):
    os.environ["PYOPENGL_PLATFORM"] = backend
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def worker_pool(workers, backend=None):
    """A pool of `workers` processes started with "spawn", with PYOPENGL_PLATFORM set before pyrender loads.

    Args:
      workers: number of processes (>= 1).
      backend: "egl" or "osmesa"; default `sphembed.data.gl_backend.require_backend()` (probes once).

    Returns:
      multiprocessing.pool.Pool (use as a context manager).

    Raises:
      RuntimeError: listing what to install when no headless OpenGL back-end works.
      ValueError: workers < 1.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if backend is None:
        backend = require_backend()
    return multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(backend,))
