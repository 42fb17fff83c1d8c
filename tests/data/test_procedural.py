"""Built-in procedural categories (sphembed.data.procedural): build, seeding, alignment, no rotational symmetry."""

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from sphembed.data.meshes import normalize_mesh, rotate_mesh
from sphembed.data.procedural import CATEGORIES, make_shape
from sphembed.data.spheremap import sphere_map

# The turns a shape built from axis-aligned primitives could plausibly be invariant under.
TURNS = {f"{axis}{deg}": Rotation.from_euler(axis, deg, degrees=True).as_matrix()
         for axis, deg in (("x", 180), ("y", 180), ("z", 180), ("y", 90))}



def _asymmetry(mesh, R, B=16):
    """Relative RMS difference of the sphere maps of mesh and R mesh (0 iff R is a symmetry, up to round-off)."""
    f, g = sphere_map(mesh, B), sphere_map(rotate_mesh(mesh, R), B)
    return np.sqrt(((f - g) ** 2).mean() / (f ** 2).mean())


def test_at_least_eight_categories():
    assert len(CATEGORIES) >= 8 and len(set(CATEGORIES)) == len(CATEGORIES)
    for name in ("airplane", "car", "chair", "sofa", "table", "bed", "lamp", "mug"):
        assert name in CATEGORIES


@pytest.mark.parametrize("category", CATEGORIES)
def test_builds_normalized_and_seeded(category):
    a, b, c = make_shape(category, 5), make_shape(category, 5), make_shape(category, 6)
    np.testing.assert_allclose(a.bounds.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(a.vertices, axis=1).max(), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)
    assert a.vertices.shape != c.vertices.shape or not np.allclose(a.vertices, c.vertices)
    assert a.area > 0 and len(a.faces) < 2000


@pytest.mark.parametrize("category", CATEGORIES)
def test_no_rotational_symmetry(category):
    # Symmetric control (below) measures 0 to round-off; the categories measured >= 0.24 (bed under y90) over
    # seeds 0-4, so 0.1 separates "symmetric" from "not" with a wide margin on both sides.
    for seed in (0, 1):
        mesh = make_shape(category, seed)
        for name, R in TURNS.items():
            assert _asymmetry(mesh, R) > 0.1, f"{category} seed {seed} looks symmetric under {name}"


def test_asymmetry_measure_detects_a_symmetric_shape():
    """Control: a plain four-legged table (no drawer) IS symmetric under the 180-degree turn about y."""
    parts = [trimesh.creation.box(extents=[1.8, 0.06, 0.9],
                                  transform=trimesh.transformations.translation_matrix([0, 0.8, 0]))]
    parts += [trimesh.creation.box(extents=[0.1, 0.8, 0.1],
                                   transform=trimesh.transformations.translation_matrix([x * 0.8, 0.4, z * 0.4]))
              for x in (-1, 1) for z in (-1, 1)]
    plain = normalize_mesh(trimesh.util.concatenate(parts))
    assert _asymmetry(plain, TURNS["y180"]) < 1e-5
    assert _asymmetry(plain, TURNS["y90"]) > 0.1


@pytest.mark.parametrize("category", CATEGORIES)
def test_consistently_aligned(category):
    """Two instances of a category agree better as built than with one of them turned (a shared frame)."""
    for seed in (0, 2):
        a, b = make_shape(category, seed), make_shape(category, seed + 1)
        fa = sphere_map(a, 16)

        def distance(mesh):
            return np.sqrt(((fa - sphere_map(mesh, 16)) ** 2).mean() / (fa ** 2).mean())

        aligned = distance(b)
        for name, R in TURNS.items():
            assert aligned < distance(rotate_mesh(b, R)), f"{category} seeds {seed},{seed + 1}: {name} fits better"


@pytest.mark.parametrize("category", CATEGORIES)
def test_mirror_symmetric(category):
    """Each category is mirror symmetric (x -> -x; the mug, handle at +X: z -> -z): a reflection, not a rotation.

    Checked on the vertex set (exact); sphere maps would also differ at a few grazing rays, because a mirrored
    triangulation of curved parts (torus quads) puts the diagonals the other way.
    """
    flip = np.array([1, 1, -1]) if category == "mug" else np.array([-1, 1, 1])
    for seed in range(2):
        vertices = make_shape(category, seed).vertices
        distance, _ = cKDTree(vertices).query(vertices * flip)
        assert distance.max() < 1e-9


def test_unknown_category():
    with pytest.raises(ValueError, match="unknown procedural category 'spaceship'"):
        make_shape("spaceship", 0)
