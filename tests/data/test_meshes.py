"""Mesh loading and normalization (sphembed.data.meshes): formats, scenes, bad files, orientation, folder layouts."""

import os
import warnings

import numpy as np
import pytest
import trimesh

from sphembed.data.meshes import find_meshes, load_mesh, normalize_mesh, orientation_matrix, rotate_mesh

SHARED = "/work/shared/meshes"


def _assert_normalized(mesh):
    np.testing.assert_allclose(mesh.bounds.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1).max(), 1.0, rtol=1e-12)


def _lumpy_box(rng):
    mesh = trimesh.creation.box(extents=[2.0, 0.5, 1.0])
    mesh.vertices = mesh.vertices * rng.uniform(1, 3) + rng.normal(size=3) * 5
    return mesh


def test_normalize_mesh_random(rng):
    mesh = _lumpy_box(rng)
    shape = mesh.vertices - mesh.bounds.mean(axis=0)
    normalize_mesh(mesh)
    _assert_normalized(mesh)
    # only a translation and a uniform scale: the centred shape is preserved up to scale
    np.testing.assert_allclose(mesh.vertices * np.linalg.norm(shape, axis=1).max(), shape, atol=1e-9)


@pytest.mark.parametrize("ext", ["off", "obj", "ply", "stl", "glb"])
def test_load_mesh_formats(tmp_path, rng, ext):
    mesh = _lumpy_box(rng)
    path = tmp_path / f"m.{ext}"
    mesh.export(path)
    loaded = load_mesh(path)
    _assert_normalized(loaded)
    expected = normalize_mesh(mesh.copy())
    assert np.isclose(loaded.area, expected.area, rtol=1e-5)


def test_load_mesh_modelnet_header_quirk(tmp_path):
    """Many ModelNet40 OFF files run the header into the counts line ("OFF4 4 0")."""
    path = tmp_path / "quirk.off"
    path.write_text("OFF4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n")
    mesh = load_mesh(path)
    assert len(mesh.faces) == 4
    _assert_normalized(mesh)


def test_load_mesh_merges_scene(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(extents=[1, 1, 1]), node_name="a")
    scene.add_geometry(trimesh.creation.box(extents=[1, 1, 1]), node_name="b",
                       transform=trimesh.transformations.translation_matrix([3, 0, 0]))
    path = tmp_path / "scene.glb"
    scene.export(path)
    mesh = load_mesh(path)
    _assert_normalized(mesh)
    assert len(mesh.faces) == 24
    # the scene graph transform is applied: the union spans x in [-0.5, 3.5], 4 units wide, 1 unit deep
    np.testing.assert_allclose(mesh.extents[0] / mesh.extents[2], 4.0, rtol=1e-6)


def test_load_mesh_malformed_files_name_the_file(tmp_path, malformed_meshes, malformed_mesh_name):
    """Each malformed file of issue 16 raises ValueError naming the file and the reason, with no numpy warning."""
    name = malformed_mesh_name  # one test per file (tests/conftest.py: pytest_generate_tests)
    content, reason = malformed_meshes.files()[name]
    path = tmp_path / name
    path.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or invalid-value warning would fail here
        with pytest.raises(ValueError, match=f"{name}: .*{reason}"):
            load_mesh(path)


def test_load_mesh_missing_file(tmp_path):
    with pytest.raises(ValueError, match="nothere.obj"):
        load_mesh(tmp_path / "nothere.obj")


def test_rotate_mesh_copies(rng):
    mesh = _lumpy_box(rng)
    before = mesh.vertices.copy()
    R = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    turned = rotate_mesh(mesh, R)
    np.testing.assert_allclose(turned.vertices, before @ R.T, atol=1e-12)
    np.testing.assert_array_equal(mesh.vertices, before)


def test_orientation_matrix_preset():
    R = orientation_matrix("z", "-y")  # a +Z-up file whose front is -Y
    np.testing.assert_allclose(R @ [0, 0, 1], [0, 1, 0])
    np.testing.assert_allclose(R @ [0, -1, 0], [0, 0, 1])
    assert np.isclose(np.linalg.det(R), 1.0)
    np.testing.assert_allclose(orientation_matrix("y", "z"), np.eye(3))
    np.testing.assert_allclose(orientation_matrix("z"), R)  # default front for +Z-up files: a quarter turn
    np.testing.assert_allclose(orientation_matrix("-y") @ [0, -1, 0], [0, 1, 0])
    with pytest.raises(ValueError, match="perpendicular"):
        orientation_matrix("y", "-y")
    with pytest.raises(ValueError, match="up must be one of"):
        orientation_matrix("up", "z")


def test_load_mesh_reorients_only_when_asked(tmp_path):
    # a tall thin box standing along +Z in the file
    mesh = trimesh.creation.box(extents=[0.2, 0.4, 2.0])
    path = tmp_path / "tall.ply"
    mesh.export(path)
    assert np.argmax(load_mesh(path).extents) == 2
    assert np.argmax(load_mesh(path, up="z", front="x").extents) == 1
    assert np.argmax(load_mesh(path, up="z").extents) == 1


def test_shared_meshes_canonical(rng):
    """A few of the real development meshes load as-is (+Y up, front +Z; already normalized files)."""
    for rel in ("airplane/crrcsim_allegro.ply", "bed/" + sorted(os.listdir(f"{SHARED}/bed"))[0]):
        mesh = load_mesh(f"{SHARED}/{rel}")
        _assert_normalized(mesh)
    plane = load_mesh(f"{SHARED}/airplane/crrcsim_allegro.ply")
    assert plane.extents[0] > plane.extents[1]  # wings span X, up is Y


def _write(path, mesh):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mesh.export(path)


def test_find_meshes_layouts(tmp_path, rng):
    box = trimesh.creation.box()
    for c in ("chair", "mug"):
        for split, n in (("train", 2), ("test", 1)):
            for i in range(n):
                _write(tmp_path / "mn" / c / split / f"{c}_{i}.off", box)
    layout, entries = find_meshes(tmp_path / "mn")
    assert layout == "modelnet40" and len(entries) == 6
    assert [e["split"] for e in entries if e["category"] == "mug"].count("test") == 1

    _write(tmp_path / "sn" / "03001627" / "a1" / "model.obj", box)  # ShapeNetCore v1
    _write(tmp_path / "sn" / "03797390" / "b2" / "models" / "model_normalized.obj", box)  # v2
    layout, entries = find_meshes(tmp_path / "sn")
    assert layout == "shapenet" and [e["category"] for e in entries] == ["chair", "mug"]

    layout, entries = find_meshes(SHARED, test_fraction=0.25, seed=3)
    assert layout == "folders" and len(entries) == 135
    tables = [e for e in entries if e["category"] == "table"]
    assert sum(e["split"] == "test" for e in tables) == 8  # 25% of 32
    assert find_meshes(SHARED, test_fraction=0.25, seed=3) == (layout, entries)  # seeded

    with pytest.raises(ValueError, match="no mesh files"):
        find_meshes(tmp_path / "sn" / "03001627" / "a1")
    with pytest.raises(ValueError, match="is not a folder"):
        find_meshes(tmp_path / "nope")
