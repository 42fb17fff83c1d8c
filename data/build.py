"""Per-mesh work of `sphembed make-data`, run in spawned worker processes (TF-free: trimesh, pyrender, numpy).

A mesh spec is a dict: {"kind": "procedural", "category", "seed"} or {"kind": "file", "path", "up", "front"}.
For each view v of a mesh with rotation R_v and anisotropic scale factors s_v (all ones without augmentation):
  mesh_v = normalize(diag(s_v) mesh)   (scaling in the object frame, then re-normalized)
  image, depth, mask = render(mesh_v in pose R_v);   sphere = sphere_map(R_v mesh_v)
so the image and the sphere map always show the same (scaled) mesh in the same pose.
"""

import numpy as np

from sphembed.data.meshes import load_mesh, normalize_mesh, rotate_mesh
from sphembed.data.procedural import make_shape
from sphembed.data.render import render_view
from sphembed.data.sampling import sample_rotations
from sphembed.data.spheremap import sphere_map

__all__ = ["load_spec", "check_spec", "mesh_views", "view_parameters"]


def load_spec(spec):
    """The normalized trimesh.Trimesh of a mesh spec; ValueError naming the file on a bad mesh."""
    if spec["kind"] == "procedural":
        return make_shape(spec["category"], spec["seed"])
    return load_mesh(spec["path"], up=spec.get("up", "y"), front=spec.get("front"))


def check_spec(spec):
    """None when the spec's mesh loads and is valid, else the reason (str, naming the file)."""
    try:
        load_spec(spec)
    except ValueError as exc:
        return str(exc)
    return None


def view_parameters(seed, n_views, rotations, scale_augment):
    """Seeded (R [n_views, 3, 3] float64, scales [n_views, 3] float64) of one mesh's views.

    Args:
      seed: np.random.SeedSequence entropy (int or list of ints) unique to the mesh.
      n_views: views per mesh.
      rotations: "2dof" or "3dof" (`sphembed.data.sampling.sample_rotations`).
      scale_augment: A; scale factors uniform in [1 - A, 1 + A] per axis (all 1 when A = 0).
    """
    rot_seed, scale_seed = np.random.SeedSequence(seed).spawn(2)
    R = sample_rotations(n_views, rotations, rot_seed)
    scales = np.random.default_rng(scale_seed).uniform(1 - scale_augment, 1 + scale_augment, (n_views, 3))
    return R, (scales if scale_augment > 0 else np.ones((n_views, 3)))


def mesh_views(task):
    """Renders and ray-casts all views of one mesh.

    Args:
      task: dict {"spec", "rotations" [V, 3, 3], "scales" [V, 3], "image_size", "color", "sphere_bandwidth",
        "render" (bool, default True), "sphere" (bool, default True)}.

    Returns:
      dict of numpy arrays: image uint8 [V, H, W, c], depth float32 [V, H, W], mask uint8 [V, H, W] (when
      rendering), sphere float32 [V, 2B, 2B, 2] (when ray casting), rotation float32 [V, 3, 3].
    """
    base = load_spec(task["spec"])
    out = {"image": [], "depth": [], "mask": [], "sphere": []}
    for R, s in zip(np.asarray(task["rotations"]), np.asarray(task["scales"])):
        mesh = base if np.all(s == 1) else normalize_mesh(rotate_mesh(base, np.diag(s)))
        if task.get("render", True):
            image, depth, mask = render_view(mesh, R, task["image_size"], task["color"])
            out["image"].append(image)
            out["depth"].append(depth)
            out["mask"].append(mask)
        if task.get("sphere", True):
            out["sphere"].append(sphere_map(rotate_mesh(mesh, R), task["sphere_bandwidth"]))
    result = {key: np.stack(value) for key, value in out.items() if value}
    result["rotation"] = np.asarray(task["rotations"], np.float32)
    return result
