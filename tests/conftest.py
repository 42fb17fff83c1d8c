"""Shared test fixtures: tolerances by dtype (one place), seeded random generators, and the helpers several test
modules use (band-limited sphere signals, malformed meshes, splatted views, a tiny dataset and spherical-CNN module).
"""

import os
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

# Round-off tolerances for exact transforms on band-limited inputs, by dtype. float32: a transform sums O(B^2)
# terms of size O(1) and is measured at ~2e-6 relative at B <= 16, so 1e-4 leaves margin; float64 measured ~1e-13.
TOL = {"float32": 1e-4, "float64": 1e-10}


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def tol(dtype):
    return TOL[dtype]


# --- shared test helpers, as fixtures (test modules never import each other: setup.cfg runs pytest with
# --import-mode=importlib) ---------------------------------------------------------------------------------------

def _random_flm(rng, L, shape=()):
    """Complex coefficients of real band-limited maps: [*shape, L, 2L-1], f_{l,-m} = (-1)^m conj(f_lm)."""
    flm = np.zeros(tuple(shape) + (L, 2 * L - 1), dtype=np.complex128)
    for l in range(L):
        for m in range(l + 1):
            a = rng.normal(size=shape) + (1j * rng.normal(size=shape) if m else 0)
            flm[..., l, m + L - 1] = a
            flm[..., l, -m + L - 1] = (-1) ** m * np.conj(a)
    return flm


def _eval_flm(flm, theta, phi):
    """sum_lm flm Y_l^m(theta, phi), real part: flm [..., L, 2L-1], theta/phi [P] -> [..., P]."""
    from scipy.special import sph_harm_y

    L = flm.shape[-2]
    out = 0
    for l in range(L):
        for m in range(-l, l + 1):
            out = out + flm[..., l, m + L - 1, None] * sph_harm_y(l, m, theta, phi)
    return np.real(out)


def _grid_map(flm, B):
    """Maps of coefficients flm [batch, C, L, 2L-1] on the bandwidth-B grid: [batch, 2B, 2B, C] float64."""
    from sphembed.models.sphere.grids import sphere_grid

    theta, phi = sphere_grid(B, "float64")
    t, p = np.meshgrid(theta, phi, indexing="ij")
    values = _eval_flm(flm, t.ravel(), p.ravel())  # [batch, C, 4B^2]
    return np.moveaxis(values.reshape(values.shape[:-1] + (2 * B, 2 * B)), -3, -1)


def _random_rotations(rng, n):
    """Uniform random rotation matrices [n, 3, 3] (QR of Gaussian matrices, det +1)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    q[np.linalg.det(q) < 0, :, 0] *= -1
    return q


@pytest.fixture(scope="session")
def sphere_signals():
    """Random band-limited maps with known coefficients, and their analytic values anywhere:
    .random_flm(rng, L, shape), .eval_flm(flm, theta, phi), .grid_map(flm, B), .random_rotations(rng, n)."""
    return types.SimpleNamespace(random_flm=_random_flm, eval_flm=_eval_flm, grid_map=_grid_map,
                                 random_rotations=_random_rotations)


_TET_V = "0 0 0\n1 0 0\n0 1 0\n0 0 1\n"
_TET_F = "3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"


def _malformed_files():
    """The malformed mesh files of issue 16: {file name: (content bytes, regex the ValueError message of
    `load_mesh` matches after the file name)} (the note's table)."""
    import trimesh

    glb = trimesh.creation.box().export(file_type="glb")
    random_bytes = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes()
    return {
        "empty.off": (b"", "empty file"),
        "header_only.off": (b"OFF\n", "cannot read mesh"),
        "truncated_vertices.off": (b"OFF\n4 4 0\n0 0 0\n1 0 0\n", "cannot read mesh"),
        "truncated_faces.off": (f"OFF\n4 4 0\n{_TET_V}3 0 1 2\n".encode(), "truncated OFF file"),
        "nan_vertex.off": (f"OFF\n4 4 0\n0 0 0\nnan 0 0\n0 1 0\n0 0 1\n{_TET_F}".encode(), "non-finite"),
        "inf_vertex.off": (f"OFF\n4 4 0\n0 0 0\ninf 0 0\n0 1 0\n0 0 1\n{_TET_F}".encode(), "non-finite"),
        "index_out_of_range.off": (f"OFF\n4 4 0\n{_TET_V}3 0 1 2\n3 0 1 9\n3 0 2 3\n3 1 2 3\n".encode(),
                                   "cannot read mesh.*outside the range"),
        "negative_index.off": (f"OFF\n4 4 0\n{_TET_V}3 0 1 2\n3 0 -1 3\n3 0 2 3\n3 1 2 3\n".encode(),
                               "cannot read mesh.*outside the range"),
        "no_faces.off": (f"OFF\n4 0 0\n{_TET_V}".encode(), "empty mesh"),
        "zero_counts.off": (b"OFF\n0 0 0\n", "empty mesh"),
        "wrong_counts.off": (f"OFF\n9 9 0\n{_TET_V}{_TET_F}".encode(), "cannot read mesh"),
        "huge_coordinates.off": (f"OFF\n4 4 0\n0 0 0\n1e300 0 0\n0 1e300 0\n0 0 1e300\n{_TET_F}".encode(),
                                 "overflowing coordinates after normalization"),
        "zero_area.off": (b"OFF\n3 1 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n", "degenerate"),
        "flat_line.off": (b"OFF\n4 2 0\n0 0 0\n1 0 0\n2 0 0\n3 0 0\n3 0 1 2\n3 1 2 3\n", "degenerate"),
        "garbage.off": (b"this is not a mesh at all\n", "cannot read mesh"),
        "garbage.obj": (b"hello world\nfoo bar\n", "empty mesh"),
        "bad_index.obj": (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n", "cannot read mesh"),
        "garbage_binary.stl": (random_bytes, "empty mesh"),
        "garbage_binary.ply": (b"ply\nformat binary_little_endian 1.0\n" + bytes(range(200)), "cannot read mesh"),
        "zero_size.glb": (b"", "empty file"),
        "truncated.glb": (glb[:60], "cannot read mesh"),
    }


def _write_malformed(folder):
    """Writes every malformed file into `folder` (a pathlib.Path, created); returns {path: reason regex}."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (content, reason) in _malformed_files().items():
        (folder / name).write_bytes(content)
        out[str(folder / name)] = reason
    return out


@pytest.fixture(scope="session")
def malformed_meshes():
    """The malformed mesh files of issue 16: .files() -> {name: (content, reason regex)}, .write(folder)."""
    return types.SimpleNamespace(files=_malformed_files, write=_write_malformed)


def pytest_generate_tests(metafunc):
    # A test taking `malformed_mesh_name` runs once per malformed file (collected lazily: trimesh is imported only
    # when such a test is collected).
    if "malformed_mesh_name" in metafunc.fixturenames:
        metafunc.parametrize("malformed_mesh_name", sorted(_malformed_files()))


def _splat_views(n_pairs, size, seed):
    """A tiny synthetic object (five coloured 3D blobs, asymmetric) rendered by Gaussian splatting with sphembed's
    camera (distance 3), in pairs of random 3DOF poses: the inputs `KeypointNet.fit` takes."""
    from scipy.spatial.transform import Rotation

    from sphembed.models.baselines.keypoint_geometry import ndc_grid, project

    rng = np.random.default_rng(seed)
    points = np.array([[0.6, 0, 0], [-0.3, 0.5, 0], [0, -0.4, 0.3], [0, 0, -0.6], [0.3, 0.3, 0.5]])
    shades = np.linspace(0.3, 1.0, len(points))
    grid = ndc_grid(size, size).numpy()
    data = {}
    for view in ("a", "b"):
        R = Rotation.random(n_pairs, random_state=rng.integers(1 << 31)).as_matrix()
        uv = project(np.einsum("bij,nj->bni", R, points), 3.0).numpy()[..., :2]
        d2 = np.sum((grid[None, :, :, None, :] - uv[:, None, None, :, :]) ** 2, axis=-1)
        blobs = np.exp(-d2 / (2 * 0.12**2))
        image = np.max(blobs * shades, axis=-1)
        data[f"image_{view}"] = image[..., None].astype(np.float32)
        data[f"mask_{view}"] = (np.max(blobs, axis=-1) > 0.3).astype(np.uint8)
        data[f"rotation_{view}"] = R.astype(np.float32)
    return data


@pytest.fixture(scope="session")
def splat_views():
    """splat_views(n_pairs, size, seed) -> {image_a, mask_a, rotation_a, image_b, mask_b, rotation_b}."""
    return _splat_views


def _write_tiny_dataset(root, rng, B=4, size=16, categories=("box", "rod"), meshes=2, views=3):
    """A make-data-format dataset without rendering: per mesh a band-limited sphere map f, per view a random pose R
    with sphere = Lambda_R f (exact) and an image that is a fixed random projection of the sphere map."""
    import tensorflow as tf

    from sphembed.data.manifest import write_manifest
    from sphembed.data.records import serialize_example
    from sphembed.models.sphere.rotations import rotate_map

    projection = rng.normal(size=(2 * B * 2 * B * 2, size * size)) / (4 * B)
    splits = {}
    for split in ("train", "test"):
        shard, index, mesh_list = f"{split}-00000-of-00001.tfrecord", 0, []
        with tf.io.TFRecordWriter(str(root / shard)) as writer:
            for m in range(meshes * len(categories)):
                label = m % len(categories)
                base = _grid_map(_random_flm(rng, B, (1, 2)), B).astype(np.float32) / 4
                mesh_list.append({"mesh_id": f"{split}{m}", "category": categories[label], "label": label,
                                  "source": "synthetic"})
                for R in _random_rotations(rng, views).astype(np.float32):
                    sphere = rotate_map(base, R).numpy()[0]
                    image = np.clip(0.5 + sphere.reshape(-1) @ projection, 0, 1).reshape(size, size, 1)
                    writer.write(serialize_example((image * 255).astype(np.uint8), np.zeros((size, size)),
                                                   np.zeros((size, size)), sphere, R, label, f"{split}{m}",
                                                   categories[label], split, index))
                    index += 1
        splits[split] = {"count": index, "shards": [shard], "meshes": mesh_list}
    write_manifest(str(root), {"status": "complete", "image_size": size, "channels": 1, "sphere_bandwidth": B,
                               "views_per_mesh": views, "categories": list(categories), "splits": splits,
                               "counts": {k: v["count"] for k, v in splits.items()}})
    return str(root)


def _export_tiny_sphcnn(path, B=4, seed=0):
    """A tiny SphericalCNN module: endpoints block1 [2B, 2B, 2] and block2 [B, B, 4]."""
    import keras

    from sphembed.hub_export import export_sphcnn
    from sphembed.models.nets.sphcnn import SphericalCNN

    keras.utils.set_random_seed(seed)
    model = SphericalCNN(B, in_channels=2, num_classes=2, stem_channels=4, stages=((8, 1), (16, 1)))
    return export_sphcnn(model, str(path))


@pytest.fixture(scope="session")
def write_tiny_dataset():
    """write_tiny_dataset(root, rng, B=4, size=16, categories=("box", "rod"), meshes=2, views=3) -> data dir: a
    make-data-format dataset without rendering (exactly rotated band-limited sphere maps, projected images)."""
    return _write_tiny_dataset


@pytest.fixture(scope="session")
def export_tiny_sphcnn():
    """export_tiny_sphcnn(path, B=4, seed=0) -> module dir: a tiny SphericalCNN module, endpoints block1
    [2B, 2B, 2] and block2 [B, B, 4]."""
    return _export_tiny_sphcnn
