"""Built-in procedural shape categories: the embedded default data (no files needed).

Each category is assembled from primitives (boxes, cylinders, cones, tori) with per-instance random proportions
drawn from `np.random.default_rng(seed)`, in the canonical object frame of `sphembed.data.meshes` (+Y up, front
toward +Z, +X the object's left) and normalized (bounding-box centre at 0, farthest vertex at 1).

Properties (checked in tests/test_data_procedural.py):
  * `make_shape(c, s)` is deterministic: equal vertices and faces for equal (c, s); different seeds differ.
  * Consistent alignment within a category: the part that defines the front (nose, hood, open seat side, drawer,
    foot end, lamp head, handle) is always on the same side, so category-based relative pose is well defined.
  * No category has a proper rotational symmetry: the sphere map of the shape turned by 180 degrees about x, y or z,
    or by 90 degrees about y, differs from the original far beyond the sampling error. Every category is
    mirror-symmetric (left-right, x -> -x; the mug, handle at +X, front-back, z -> -z), like most real objects; a
    reflection is not a rotation, so relative rotation is still unique. What breaks the turn symmetries:
      airplane: nose cone at +Z (vs tail), fin on top; car: cabin set back from the centre, wheels below;
      chair: backrest at -Z; sofa: backrest at -Z, armrests; table: drawer under the front edge (a plain
      rectangular four-legged table would be symmetric under the 180-degree turn about y);
      bed: headboard at -Z taller than the footboard; lamp: arm leans back, head reaches forward and points down;
      mug: handle at +X above mid-height, open top.
"""

import numpy as np
import trimesh

from sphembed.data.meshes import normalize_mesh

__all__ = ["CATEGORIES", "make_shape"]

_SECTIONS = 12


def _box(center, extents):
    return trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(center))


def _frame(axis, origin):
    """4x4 transform taking local z to `axis` and local x to the part of world x (else y) normal to it, so
    polygonal cross-sections keep the mirror symmetries of the shape."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    ref = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    x = ref - (ref @ axis) * axis
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, np.cross(axis, x), axis], axis=1)
    T[:3, 3] = origin
    return T


def _rod(p0, p1, radius):
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    return trimesh.creation.cylinder(radius=radius, height=np.linalg.norm(p1 - p0), sections=_SECTIONS,
                                     transform=_frame(p1 - p0, (p0 + p1) / 2))


def _airplane(rng):
    length, radius = rng.uniform(1.6, 2.4), rng.uniform(0.08, 0.14)
    nose = rng.uniform(0.15, 0.3) * length
    span, chord = rng.uniform(1.4, 2.2), rng.uniform(0.25, 0.45)
    wing_z, wing_y = rng.uniform(-0.05, 0.15) * length, rng.uniform(-0.6, 0.6) * radius
    sweep = rng.uniform(0.0, 0.5)
    tail_span, tail_chord, fin_h = rng.uniform(0.5, 0.8), rng.uniform(0.15, 0.25), rng.uniform(0.25, 0.45)
    back, front = -length / 2, length / 2 - nose
    cone = trimesh.creation.cone(radius=radius, height=nose, sections=_SECTIONS,
                                 transform=trimesh.transformations.translation_matrix([0, 0, front]))
    parts = [_rod([0, 0, back], [0, 0, front], radius), cone]
    for side in (-1, 1):  # swept half wings
        half = _box([side * span / 4, wing_y, wing_z], [span / 2, 0.03, chord])
        turn = trimesh.transformations.rotation_matrix(side * sweep, [0, 1, 0], [0, wing_y, wing_z])
        parts.append(half.apply_transform(turn))
    parts.append(_box([0, 0, back + tail_chord / 2], [tail_span, 0.02, tail_chord]))
    parts.append(_box([0, radius + fin_h / 2, back + tail_chord / 2], [0.02, fin_h, tail_chord * 1.2]))
    return parts


def _car(rng):
    length, width = rng.uniform(1.8, 2.4), rng.uniform(0.8, 1.0)
    wheel_r, body_h = rng.uniform(0.16, 0.24), rng.uniform(0.3, 0.45)
    cabin_l, cabin_h = rng.uniform(0.4, 0.55) * length, rng.uniform(0.25, 0.4)
    cabin_z = -rng.uniform(0.08, 0.2) * length
    bottom = 0.8 * wheel_r
    parts = [_box([0, bottom + body_h / 2, 0], [width, body_h, length]),
             _box([0, bottom + body_h + cabin_h / 2, cabin_z], [0.85 * width, cabin_h, cabin_l])]
    axle = length / 2 - 1.4 * wheel_r
    for z in (-axle, axle):
        for side in (-1, 1):
            parts.append(_rod([side * (width / 2 - 0.12), wheel_r, z], [side * (width / 2 + 0.04), wheel_r, z],
                              wheel_r))
    return parts


def _chair(rng):
    width, depth, seat_h = rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0)
    back_h, leg = rng.uniform(0.7, 1.1), rng.uniform(0.04, 0.07)
    t = 0.08
    parts = [_box([0, seat_h - t / 2, 0], [width, t, depth]),
             _box([0, seat_h + back_h / 2, -depth / 2 + t / 2], [width, back_h, t])]
    for x in (-1, 1):
        for z in (-1, 1):
            parts.append(_box([x * (width / 2 - leg), (seat_h - t) / 2, z * (depth / 2 - leg)],
                              [2 * leg, seat_h - t, 2 * leg]))
    if rng.random() < 0.5:  # armrests
        for x in (-1, 1):
            parts.append(_box([x * (width / 2 - 0.03), seat_h + 0.25, 0], [0.06, 0.05, 0.9 * depth]))
    return parts


def _sofa(rng):
    width, depth, seat_h = rng.uniform(1.8, 2.6), rng.uniform(0.8, 1.0), rng.uniform(0.4, 0.5)
    back_h, arm_h, arm_w, back_t = rng.uniform(0.4, 0.6), rng.uniform(0.15, 0.3), rng.uniform(0.12, 0.2), 0.18
    base = 0.1
    parts = [_box([0, (base + seat_h) / 2, 0], [width, seat_h - base, depth]),
             _box([0, (base + seat_h + back_h) / 2, -depth / 2 + back_t / 2], [width, seat_h + back_h - base, back_t])]
    for x in (-1, 1):
        parts.append(_box([x * (width / 2 - arm_w / 2), (base + seat_h + arm_h) / 2, 0],
                          [arm_w, seat_h + arm_h - base, depth]))
        for z in (-1, 1):
            parts.append(_box([x * (width / 2 - 0.08), base / 2, z * (depth / 2 - 0.08)], [0.06, base, 0.06]))
    return parts


def _table(rng):
    width, depth, height = rng.uniform(1.6, 2.2), rng.uniform(0.8, 1.1), rng.uniform(0.7, 0.9)
    t, leg = 0.06, rng.uniform(0.03, 0.06)
    drawer_w, drawer_h = rng.uniform(0.35, 0.6) * width, rng.uniform(0.12, 0.2)
    parts = [_box([0, height - t / 2, 0], [width, t, depth]),
             _box([0, height - t - drawer_h / 2, depth / 2 - 0.25], [drawer_w, drawer_h, 0.5])]
    for x in (-1, 1):
        for z in (-1, 1):
            parts.append(_box([x * (width / 2 - 2 * leg), (height - t) / 2, z * (depth / 2 - 2 * leg)],
                              [2 * leg, height - t, 2 * leg]))
    return parts


def _bed(rng):
    width, length, frame_h = rng.uniform(1.4, 1.9), rng.uniform(2.0, 2.3), rng.uniform(0.3, 0.45)
    head_h, foot_h, t = rng.uniform(0.8, 1.2), rng.uniform(0.45, 0.6), 0.08
    base = 0.12
    parts = [_box([0, base + frame_h / 2, 0], [width, frame_h, length]),
             _box([0, head_h / 2, -length / 2 - t / 2], [width + 0.1, head_h, t]),
             _box([0, foot_h / 2, length / 2 + t / 2], [width + 0.1, foot_h, t]),
             _box([0, base + frame_h + 0.06, -length / 2 + 0.3], [0.7 * width, 0.12, 0.4])]  # pillow
    return parts


def _lamp(rng):
    base_r, base_h = rng.uniform(0.25, 0.35), 0.06
    joint = np.array([0, rng.uniform(0.7, 1.0), -rng.uniform(0.1, 0.3)])
    head = joint + np.array([0, rng.uniform(0.0, 0.2), rng.uniform(0.5, 0.8)])
    shade_r, shade_h, arm_r = rng.uniform(0.15, 0.25), rng.uniform(0.25, 0.35), 0.025
    opening = np.array([0, -1, rng.uniform(0.3, 0.7)])
    opening /= np.linalg.norm(opening)  # the shade opens down and forward
    turn = _frame(-opening, head + opening * shade_h)  # cone axis (base -> apex) points back up
    parts = [_rod([0, 0, 0], [0, base_h, 0], base_r), _rod([0, base_h, 0], joint, arm_r), _rod(joint, head, arm_r),
             trimesh.creation.cone(radius=shade_r, height=shade_h, sections=_SECTIONS, transform=turn)]
    return parts


def _mug(rng):
    radius, height, wall = rng.uniform(0.35, 0.5), rng.uniform(0.8, 1.1), 0.04
    handle_r, handle_y = rng.uniform(0.2, 0.3) * height, rng.uniform(0.52, 0.65) * height
    upright = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # tube axis z -> y
    upright[:3, 3] = [0, height / 2, 0]
    body = trimesh.creation.annulus(r_min=radius - wall, r_max=radius, height=height, sections=2 * _SECTIONS,
                                    transform=upright)
    bottom = _rod([0, 0, 0], [0, wall, 0], radius - wall / 2)
    handle = trimesh.creation.torus(handle_r, 0.04, major_sections=2 * _SECTIONS, minor_sections=8,
                                    transform=trimesh.transformations.translation_matrix([radius, handle_y, 0]))
    handle.update_faces(handle.triangles_center[:, 0] > radius - wall / 2)  # only the part outside the wall
    return [body, bottom, handle]


_BUILDERS = {"airplane": _airplane, "car": _car, "chair": _chair, "sofa": _sofa, "table": _table, "bed": _bed,
             "lamp": _lamp, "mug": _mug}
CATEGORIES = tuple(_BUILDERS)


def make_shape(category, seed):
    """A random instance of a built-in category.

    Args:
      category: one of CATEGORIES.
      seed: int; equal seeds give equal meshes.

    Returns:
      trimesh.Trimesh, normalized (bounding-box centre at 0, farthest vertex at 1), +Y up, front toward +Z.

    Raises:
      ValueError: unknown category.
    """
    if category not in _BUILDERS:
        raise ValueError(f"unknown procedural category {category!r}; choose from {CATEGORIES}")
    parts = _BUILDERS[category](np.random.default_rng(seed))
    mesh = trimesh.util.concatenate(parts)
    return normalize_mesh(mesh, name=f"procedural {category} (seed {seed})")
