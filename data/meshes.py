"""Mesh input: loading any trimesh format, normalization, re-orientation, and dataset folder layouts.

Conventions (DESIGN.md §3), checked in tests/test_data_meshes.py:
  * A normalized mesh has its axis-aligned bounding-box centre at the origin and its farthest vertex at distance
    exactly 1: `np.abs(mesh.bounds.mean(0)).max() ~ 0` and `np.linalg.norm(mesh.vertices, axis=1).max() == 1`.
  * Canonical object frame (all sources): +Y up, object front toward +Z, +X the object's own left (right-handed).
    The camera (on +z, y up) therefore sees the front of an upright object in the identity pose. This is the frame of
    /work/shared/meshes and of the procedural shapes; file meshes are NOT re-oriented unless asked
    (`load_mesh(path, up=..., front=...)`), so a dataset is consistently aligned exactly when its files are.
  * Scene files (GLB, multi-object OBJ, ...) are merged into one mesh with their scene-graph transforms applied.
    Zero-area faces and unreferenced vertices are removed; a file with no face of positive area, non-finite
    vertices or a bounding box thinner than 1e-9 (relative) along two axes raises ValueError naming the file.

Dataset layouts (`find_meshes(root)`):
  * ModelNet40: `<root>/<class>/{train,test}/*.off` (splits as given).
  * ShapeNetCore v1 `<root>/<synset>/<model>/model.obj` and v2 `<root>/<synset>/<model>/models/model_normalized.obj`
    (8-digit synset ids, mapped to names by `<root>/taxonomy.json` when present, else by `SHAPENET_SYNSETS`).
  * Any folder of class folders `<root>/<class>/**/<mesh file>` (e.g. /work/shared/meshes).
  Layouts without splits are split per category by a seeded permutation (`test_fraction` of each class to test).
"""

import json
import os
import re

import numpy as np
import trimesh

__all__ = [
    "MESH_EXTENSIONS",
    "SHAPENET_SYNSETS",
    "AXES",
    "normalize_mesh",
    "rotate_mesh",
    "orientation_matrix",
    "load_mesh",
    "find_meshes",
]

MESH_EXTENSIONS = (".off", ".obj", ".ply", ".stl", ".glb", ".gltf", ".dae", ".3mf")

# ShapeNetCore v2 synset ids (the 55 categories) -> short category names.
SHAPENET_SYNSETS = {
    "02691156": "airplane", "02747177": "trash_bin", "02773838": "bag", "02801938": "basket", "02808440": "bathtub",
    "02818832": "bed", "02828884": "bench", "02843684": "birdhouse", "02871439": "bookshelf", "02876657": "bottle",
    "02880940": "bowl", "02924116": "bus", "02933112": "cabinet", "02942699": "camera", "02946921": "can",
    "02954340": "cap", "02958343": "car", "02992529": "cellphone", "03001627": "chair", "03046257": "clock",
    "03085013": "keyboard", "03207941": "dishwasher", "03211117": "display", "03261776": "earphone",
    "03325088": "faucet", "03337140": "file_cabinet", "03467517": "guitar", "03513137": "helmet", "03593526": "jar",
    "03624134": "knife", "03636649": "lamp", "03642806": "laptop", "03691459": "loudspeaker", "03710193": "mailbox",
    "03759954": "microphone", "03761084": "microwave", "03790512": "motorbike", "03797390": "mug",
    "03928116": "piano", "03938244": "pillow", "03948459": "pistol", "03991062": "pot", "04004475": "printer",
    "04074963": "remote", "04090263": "rifle", "04099429": "rocket", "04225987": "skateboard", "04256520": "sofa",
    "04330267": "stove", "04379243": "table", "04401088": "telephone", "04460130": "tower", "04468005": "train",
    "04530566": "vessel", "04554684": "washer",
}

AXES = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1), "-x": (-1, 0, 0), "-y": (0, -1, 0), "-z": (0, 0, -1)}


def normalize_mesh(mesh, name="mesh"):
    """Centres the bounding box at the origin and scales so the farthest vertex is at distance 1 (in place).

    Args:
      mesh: trimesh.Trimesh with at least one face of positive area.
      name: how errors refer to the mesh (a file name).

    Returns:
      the same mesh, normalized.

    Raises:
      ValueError: naming `name` when the mesh is empty, has non-finite vertices, is degenerate, or its coordinates
        are too large to normalize in float64 (no numpy warning is printed).
    """
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise ValueError(f"{name}: empty mesh (no faces)")
    if not np.all(np.isfinite(mesh.vertices)):
        raise ValueError(f"{name}: mesh has non-finite (NaN/inf) vertex coordinates")
    largest = float(np.abs(mesh.vertices).max())
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # overflow is checked below, by its result
        mesh.update_faces(mesh.area_faces > 0)
        mesh.remove_unreferenced_vertices()
        if len(mesh.faces) == 0:
            raise ValueError(f"{name}: degenerate mesh (every face has zero area)")
        extents = mesh.extents
        if np.sum(extents > 1e-9 * extents.max()) < 2:
            raise ValueError(f"{name}: degenerate mesh (bounding box {extents.tolist()} is a point or a line)")
        mesh.apply_translation(-mesh.bounds.mean(axis=0))
        mesh.apply_scale(1.0 / np.linalg.norm(mesh.vertices, axis=1).max())
        radius = np.linalg.norm(mesh.vertices, axis=1).max()
    if not (np.all(np.isfinite(mesh.vertices)) and abs(radius - 1) < 1e-6):
        raise ValueError(f"{name}: non-finite or overflowing coordinates after normalization (largest input "
                         f"coordinate {largest:.3g}; float64 squares overflow beyond ~1e154)")
    return mesh


def rotate_mesh(mesh, R):
    """A copy of mesh with vertices R v (a linear map: any [3, 3] matrix, e.g. a rotation or a scaling)."""
    T = np.eye(4)
    T[:3, :3] = R
    return mesh.copy().apply_transform(T)


def orientation_matrix(up="y", front=None):
    """Rotation [3, 3] taking a file's `up` axis to +Y and its `front` axis to +Z (the canonical frame).

    Args:
      up, front: one of "x", "y", "z", "-x", "-y", "-z"; must be perpendicular. front=None: "z", or for up = "z" /
        "-z" the axis that the quarter turn about x taking up to +Y brings to +Z ("-y" / "y").

    Raises:
      ValueError: unknown or parallel axes.
    """
    if front is None:
        front = {"z": "-y", "-z": "y"}.get(up, "z")
    for arg, value in (("up", up), ("front", front)):
        if value not in AXES:
            raise ValueError(f"{arg} must be one of {sorted(AXES)}, got {value!r}")
    u, f = np.array(AXES[up], float), np.array(AXES[front], float)
    if abs(u @ f) > 0:
        raise ValueError(f"up={up!r} and front={front!r} must be perpendicular axes")
    # Rows are the file's left, up and front axes, so R @ up = e_y and R @ front = e_z (det = |u x f|^2 = 1).
    return np.stack([np.cross(u, f), u, f])


# "OFF" (or "COFF", "NOFF", ...; ModelNet40 often runs it into the counts: "OFF4 4 0"), then vertex and face counts.
_OFF_COUNTS = re.compile(rb"\A\s*[A-Z]*OFF\s*(\d+)\s+(\d+)")


def _off_face_count(path):
    """The face count an OFF file's header declares, or None when the header does not parse (comments skipped)."""
    with open(path, "rb") as fh:
        head = re.sub(rb"#[^\n]*", b"", fh.read(4096))
    match = _OFF_COUNTS.match(head)
    return int(match.group(2)) if match else None


def load_mesh(path, up="y", front=None):
    """Loads any trimesh-readable mesh file (scenes merged), optionally re-oriented, normalized.

    Args:
      path: mesh file (OFF, OBJ, PLY, STL, GLB, ...).
      up, front: the file's up and front axes (`orientation_matrix`); default "y" and "z": the canonical frame,
        no re-orientation.

    Returns:
      trimesh.Trimesh, normalized (bounding-box centre at 0, farthest vertex at distance 1), canonical frame.

    Raises:
      ValueError: naming the file when it is empty, cannot be read, is a truncated OFF file (fewer faces than its
        header declares), or the mesh is empty, degenerate or not normalizable (`normalize_mesh`).
    """
    path = os.fspath(path)
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise ValueError(f"{path}: empty file (0 bytes)")
    try:
        loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many exception types for malformed files
        raise ValueError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc})") from exc
    if not isinstance(loaded, trimesh.Trimesh):
        raise ValueError(f"{path}: no triangle mesh in file (got {type(loaded).__name__})")
    declared = _off_face_count(path) if path.lower().endswith(".off") else None
    if declared is not None and len(loaded.faces) < declared:  # trimesh reads what is there; polygons only add
        raise ValueError(f"{path}: truncated OFF file (the header declares {declared} faces, the file holds "
                         f"{len(loaded.faces)} triangles)")
    mesh = trimesh.Trimesh(vertices=np.asarray(loaded.vertices, np.float64), faces=loaded.faces, process=False)
    normalize_mesh(mesh, name=path)
    if (up, front) not in (("y", "z"), ("y", None)):
        mesh = normalize_mesh(rotate_mesh(mesh, orientation_matrix(up, front)), name=path)
    return mesh


def _mesh_files(folder):
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        out += [os.path.join(dirpath, f) for f in sorted(filenames) if f.lower().endswith(MESH_EXTENSIONS)]
    return out


def _shapenet_names(root):
    names = dict(SHAPENET_SYNSETS)
    taxonomy = os.path.join(root, "taxonomy.json")
    if os.path.isfile(taxonomy):
        with open(taxonomy) as fh:
            for entry in json.load(fh):
                names[entry["synsetId"]] = entry["name"].split(",")[0].strip().replace(" ", "_")
    return names


def find_meshes(root, test_fraction=0.2, seed=0):
    """The meshes of a dataset folder: layout, category names and splits.

    Args:
      root: folder in the ModelNet40, ShapeNetCore v1/v2 or `<class>/<files>` layout (see module docstring).
      test_fraction: share of each category put in the test split when the layout has no splits.
      seed: seed of that split.

    Returns:
      (layout, entries): layout in ("modelnet40", "shapenet", "folders"); entries a list of dicts
      {"path", "mesh_id" (path relative to root), "category", "split"}, sorted by category then path.

    Raises:
      ValueError: naming root when it is not a folder or holds no mesh files.
    """
    if not os.path.isdir(root):
        raise ValueError(f"mesh source {root!r} is not a folder")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    entries = []
    if classes and all(d.isdigit() and len(d) == 8 for d in classes):
        layout, names = "shapenet", _shapenet_names(root)
        for synset in classes:
            for model in sorted(os.listdir(os.path.join(root, synset))):
                for rel in ("model.obj", os.path.join("models", "model_normalized.obj")):
                    path = os.path.join(root, synset, model, rel)
                    if os.path.isfile(path):
                        entries.append({"path": path, "category": names.get(synset, synset), "split": None})
                        break
    elif classes and all(os.path.isdir(os.path.join(root, c, "train")) or os.path.isdir(os.path.join(root, c, "test"))
                         for c in classes):
        layout = "modelnet40"
        for c in classes:
            for split in ("train", "test"):
                entries += [{"path": p, "category": c, "split": split}
                            for p in _mesh_files(os.path.join(root, c, split))]
    else:
        layout = "folders"
        for c in classes:
            entries += [{"path": p, "category": c, "split": None} for p in _mesh_files(os.path.join(root, c))]
    if not entries:
        raise ValueError(f"mesh source {root!r} holds no mesh files ({', '.join(MESH_EXTENSIONS)}) in class folders")
    for e in entries:
        e["mesh_id"] = os.path.relpath(e["path"], root)
    if layout != "modelnet40":
        rng = np.random.default_rng(seed)
        for c in sorted({e["category"] for e in entries}):
            group = [e for e in entries if e["category"] == c]
            n_test = int(round(test_fraction * len(group))) if len(group) > 1 else 0
            test = set(rng.permutation(len(group))[:n_test].tolist())
            for i, e in enumerate(group):
                e["split"] = "test" if i in test else "train"
    entries.sort(key=lambda e: (e["category"], e["mesh_id"]))
    return layout, entries
