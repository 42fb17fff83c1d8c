"""Headless rendering (sphembed.data.render) in spawned TF-free workers: camera model, outputs, back-end errors.

This module must not import TensorFlow: the spawned workers import it to find the task functions below.
"""

import sys

import numpy as np
import pytest
import trimesh
from scipy.ndimage import binary_dilation

from sphembed.data import gl_backend
from sphembed.data.render import CAMERA_DISTANCE, YFOV, Renderer, focal_length_pixels, render_view, worker_pool

N = 64  # image side


def _render(args):
    mesh, R, color, *size = args
    return render_view(mesh, R, size[0] if size else N, color)


def _heavy_modules(_):
    """Runs make-data's per-mesh work (render + ray cast), then lists the TensorFlow modules in this process."""
    from sphembed.data.build import mesh_views

    mesh_views({"spec": {"kind": "procedural", "category": "car", "seed": 0}, "rotations": np.eye(3)[None],
                "scales": np.ones((1, 3)), "image_size": 16, "color": "gray", "sphere_bandwidth": 4})
    return sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))


@pytest.fixture(scope="module")
def pool():
    with worker_pool(1) as p:
        yield p


def test_worker_never_imports_tensorflow(pool):
    assert pool._ctx.get_start_method() == "spawn"
    assert pool.map(_heavy_modules, [0]) == [[]]


def test_unit_sphere_fills_image(pool):
    """The camera's field of view makes the unit sphere's silhouette the circle inscribed in the image."""
    sphere = trimesh.creation.icosphere(subdivisions=4)
    image, depth, mask = pool.map(_render, [(sphere, np.eye(3), "gray")])[0]
    assert image.shape == (N, N, 1) and image.dtype == np.uint8
    assert depth.shape == (N, N) and depth.dtype == np.float32 and mask.shape == (N, N) and mask.dtype == np.uint8
    # area: pixel centres inside the circle of radius N/2 (counted exactly); the faceted sphere is at most
    # 1 - inradius = 0.3% smaller, and edge pixels flip either way: measured 0.3% difference, checked at 2%
    jj, ii = np.meshgrid(np.arange(N) + 0.5, np.arange(N) + 0.5)
    inside = (ii - N / 2) ** 2 + (jj - N / 2) ** 2 < (N / 2) ** 2
    assert abs(mask.sum() / inside.sum() - 1) < 0.02
    assert mask[0, 0] == 0 and mask[N // 2, N // 2] == 1
    # depth is the camera z distance: the sphere's front point is at D - 1 (faceting: < 0.3% of the radius)
    np.testing.assert_allclose(depth[N // 2 - 1:N // 2 + 1, N // 2 - 1:N // 2 + 1], CAMERA_DISTANCE - 1, atol=5e-3)
    # image (anti-aliased) and depth (one multisample position) may differ from the mask only on its border
    outside = ~binary_dilation(mask > 0, np.ones((3, 3)))
    np.testing.assert_array_equal(depth[outside], 0.0)
    np.testing.assert_array_equal(image[outside], 0)
    inside_mask = ~binary_dilation(mask == 0, np.ones((3, 3)), border_value=1)
    assert np.all(depth[inside_mask] > 0) and np.all(image[inside_mask] > 0)


def test_marker_moves_where_the_camera_model_says(pool, rng, sphere_signals):
    """A small ball at m, rendered in pose R, appears where the pinhole model puts R m: its centre projects to
    column u = N/2 + F x / (D - z), row v = N/2 - F y / (D - z) (pixel centres at index + 0.5), and its silhouette
    is the ellipse between the projections of the tangent rays at angles theta +- alpha from the optical axis
    (theta of the centre, alpha = asin(r / distance)), whose centre is F (tan(theta + alpha) + tan(theta - alpha))/2
    from the image centre, slightly outside the projected centre."""
    m, radius, n = np.array([0.6, 0.3, 0.2]), 0.12, 128
    ball = trimesh.creation.icosphere(subdivisions=3, radius=radius).apply_translation(m)
    rotations = np.concatenate([np.eye(3)[None], sphere_signals.random_rotations(rng, 3)])
    results = pool.map(_render, [(ball, R, "gray", n) for R in rotations])
    F = focal_length_pixels(n)
    for R, (image, depth, mask) in zip(rotations, results):
        x, y, z = R @ m
        u, v = n / 2 + F * x / (CAMERA_DISTANCE - z), n / 2 - F * y / (CAMERA_DISTANCE - z)
        rows, cols = np.nonzero(mask)
        # the centroid is within the ball's perspective stretch (< 1 px here) of the projected centre ...
        assert abs(cols.mean() + 0.5 - u) < 1 and abs(rows.mean() + 0.5 - v) < 1
        # ... and at the ellipse centre to pixel quantization (measured <= 0.03 px at the image centre axes; a
        # radius-8 px disc's centroid moves ~0.1 px with sub-pixel shifts; checked at 0.2 px)
        theta = np.arctan2(np.hypot(x, y), CAMERA_DISTANCE - z)
        alpha = np.arcsin(radius / np.linalg.norm([x, y, z - CAMERA_DISTANCE]))
        rho = F * (np.tan(theta + alpha) + np.tan(theta - alpha)) / 2
        direction = np.array([x, -y]) / np.hypot(x, y)
        np.testing.assert_allclose([cols.mean() + 0.5, rows.mean() + 0.5], n / 2 + rho * direction, atol=0.2)
        # expected disc area pi (F r / (D - z))^2 (ignoring the slight perspective stretch, < 3% here)
        assert abs(mask.sum() / (np.pi * (F * radius / (CAMERA_DISTANCE - z)) ** 2) - 1) < 0.15
        # nearest point of the ball: camera z distance D - z - r
        assert abs(depth[depth > 0].min() - (CAMERA_DISTANCE - z - radius)) < 0.01


def test_gray_and_rgb(pool, sphere_signals):
    box = trimesh.creation.box(extents=[1.0, 0.8, 0.6])
    R = sphere_signals.random_rotations(np.random.default_rng(0), 1)[0]
    (gray, d1, m1), (rgb, d2, m2) = pool.map(_render, [(box, R, "gray"), (box, R, "rgb")])
    assert gray.shape == (N, N, 1) and rgb.shape == (N, N, 3)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_allclose(d1, d2)
    assert gray[m1 > 0].min() > 0  # lit (ambient) everywhere on the object
    # the rgb lights come from three directions: the three visible faces get different colours
    colours = {tuple(c) for c in rgb[m2 > 0].reshape(-1, 3)}
    assert len(colours) >= 3


def test_two_sided_lighting(pool):
    """Polygon soups have inconsistent winding: a triangle renders the same whichever way its normal points."""
    corners = [[-0.5, -0.5, 0], [0.5, -0.5, 0], [0, 0.5, 0]]
    facing, away = (trimesh.Trimesh(corners, [f], process=False) for f in ([0, 1, 2], [0, 2, 1]))
    assert facing.face_normals[0][2] == 1 and away.face_normals[0][2] == -1
    (a, _, mask), (b, _, _) = pool.map(_render, [(facing, np.eye(3), "gray"), (away, np.eye(3), "gray")])
    assert mask.sum() > 100 and a[mask > 0].min() > 100
    np.testing.assert_array_equal(a, b)


def test_renderer_arguments():
    with pytest.raises(ValueError, match="color must be one of"):
        Renderer(32, "sepia")
    with pytest.raises(ValueError, match="image_size must be >= 8"):
        Renderer(4)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        worker_pool(0, backend="egl")
    assert np.isclose(np.tan(YFOV / 2), 1 / np.sqrt(CAMERA_DISTANCE ** 2 - 1))  # tangent cone of the unit sphere


def test_no_backend_error_lists_what_to_install(monkeypatch):
    monkeypatch.setattr(gl_backend, "detect_backend", lambda: None)
    monkeypatch.setattr(gl_backend, "_probe", lambda backend: (False, [f"{backend} failed"]))
    with pytest.raises(RuntimeError, match="libegl1.*libosmesa6.*PyOpenGL"):
        gl_backend.require_backend()
