"""KeypointNet baseline: Procrustes, camera model, each loss on hand-made inputs, the model, a short training run."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from sphembed.models.baselines.keypoint_geometry import (expected_uv, focal_length, ndc_grid, orientation_targets,
                                                         project, spatial_softmax, unproject)
from sphembed.models.baselines.keypoint_losses import (consistency_loss, pose_loss, separation_loss, silhouette_loss,
                                                       variance_loss)
from sphembed.models.baselines.keypointnet import KeypointNet
from sphembed.models.sphere.so3 import chordal_angle, is_rotation, procrustes_rotation
from sphembed.models.sphere.rotations import geodesic_angle

D = 3.0  # camera distance used throughout


def _rotations(n, seed):
    return Rotation.random(n, random_state=seed).as_matrix()


# --- Procrustes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
def test_procrustes_recovers_rotation_random(rng, batch, dtype, tol):
    n = int(np.prod(batch))
    R0 = _rotations(max(n, 1), 0).reshape(batch + (3, 3))
    x = rng.normal(size=batch + (7, 3))
    y = np.einsum("...ij,...nj->...ni", R0, x) + rng.normal(size=batch + (1, 3))  # rotate and translate
    R = procrustes_rotation(tf.constant(x, dtype), tf.constant(y, dtype)).numpy()
    np.testing.assert_allclose(R, R0, atol=10 * tol)


def _svd_procrustes(x, y):
    """The SVD formula R = V diag(1, 1, det(V Uᵀ)) Uᵀ with H = x̃ᵀ ỹ = U S Vᵀ (numpy, one point set)."""
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    u, _, vt = np.linalg.svd(xc.T @ yc)
    d = np.linalg.det(vt.T @ u.T)
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


@pytest.mark.parametrize("mirror", [False, True])
def test_procrustes_equals_svd_formula(rng, mirror):
    for _ in range(10):
        x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))  # unrelated sets: a genuine least-squares fit
        if mirror:
            y = x * np.array([1.0, 1.0, -1.0]) + 0.1 * y
        np.testing.assert_allclose(procrustes_rotation(x, y).numpy(), _svd_procrustes(x, y), atol=1e-9)


def test_procrustes_preset_quarter_turn():
    # Points of a square in the xy-plane plus one off-plane point, turned by 90 degrees about z.
    x = np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0], [0, 0, 1]], np.float64)
    Rz = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], np.float64)
    np.testing.assert_allclose(procrustes_rotation(x, x @ Rz.T).numpy(), Rz, atol=1e-12)


def test_procrustes_weights_ignore_outlier(rng):
    R0 = _rotations(1, 3)[0]
    x = rng.normal(size=(6, 3))
    y = x @ R0.T
    y[0] += 5.0  # an outlier with zero weight
    w = np.array([0, 1, 1, 1, 1, 1], np.float64)
    np.testing.assert_allclose(procrustes_rotation(x, y, w).numpy(), R0, atol=1e-10)
    assert geodesic_angle(procrustes_rotation(x, y).numpy(), R0).numpy() > 1e-3  # the weight matters


def test_procrustes_mirrored_input_gives_proper_rotation(rng):
    x = rng.normal(size=(5, 8, 3))
    y = x * np.array([1.0, 1.0, -1.0])  # a reflection: no rotation maps x onto y
    R = procrustes_rotation(tf.constant(x, tf.float32), tf.constant(y, tf.float32))
    assert bool(tf.reduce_all(is_rotation(R)))


def test_procrustes_gradient(rng):
    x = tf.constant(rng.normal(size=(1, 5, 3)))
    y = tf.constant(x.numpy() @ _rotations(1, 4)[0].T + 0.1 * rng.normal(size=(1, 5, 3)))
    theoretical, numerical = tf.test.compute_gradient(lambda a: procrustes_rotation(a, y), [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def test_procrustes_gradient_float32_with_equal_singular_values():
    # An octahedron and its rotated copy: all three singular values of H are equal, where gradients through an SVD
    # divide by s_i^2 - s_j^2 (measured with tf.linalg.svd in float32: max |grad| 0.85 instead of 0.314). Horn's
    # form only needs the gap between the two largest eigenvalues of its 4x4 matrix, so float32 matches float64.
    octahedron = np.concatenate([np.eye(3), -np.eye(3)])
    y = octahedron @ _rotations(1, 3)[0].T
    weights = _rotations(1, 8)[0]
    grads = []
    for dtype in (tf.float32, tf.float64):
        x = tf.constant(octahedron, dtype)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(procrustes_rotation(x, tf.constant(y, dtype)) * tf.constant(weights, dtype))
        grads.append(tape.gradient(loss, x).numpy())
    assert np.all(np.isfinite(grads[0]))
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-5)


@pytest.mark.parametrize("x_shape,y_shape,w_shape,message", [
    ((5, 2), (5, 2), None, r"x must have shape \[\.\.\., N, 3\], got \(5, 2\)"),
    ((5, 3), (6, 3), None, r"x and y must have the same"),
    ((5, 3), (5, 3), (4,), r"weights must have shape \[\.\.\., N\] with N=5, got \(4,\)"),
])
def test_procrustes_shape_errors(x_shape, y_shape, w_shape, message):
    w = None if w_shape is None else np.ones(w_shape)
    with pytest.raises(ValueError, match=message):
        procrustes_rotation(np.zeros(x_shape), np.zeros(y_shape), w)


def test_chordal_angle_equals_geodesic_angle():
    R1, R2 = _rotations(50, 5), _rotations(50, 6)
    np.testing.assert_allclose(chordal_angle(R1, R2).numpy(), geodesic_angle(R1, R2).numpy(), atol=1e-6)


def test_chordal_angle_gradient_finite_at_identity_and_half_turn():
    R1 = tf.constant(_rotations(1, 9), tf.float32)
    half_turn = tf.constant(Rotation.from_euler("z", 180, degrees=True).as_matrix()[None], tf.float32) @ R1
    for R2 in (R1, half_turn):
        with tf.GradientTape() as tape:
            tape.watch(R2)
            angle = chordal_angle(R1, R2)
        assert np.all(np.isfinite(tape.gradient(angle, R2).numpy()))
    assert chordal_angle(R1, half_turn).numpy()[0] == pytest.approx(math.pi, abs=1e-2)  # clipped at 179.8 degrees


# --- camera model and spatial softmax ---------------------------------------------------------------------------


def test_project_unproject_round_trip(rng):
    xyz = rng.uniform(-1, 1, size=(3, 10, 3))
    np.testing.assert_allclose(unproject(project(xyz, D), D).numpy(), xyz, atol=1e-12)


def test_projection_preset_unit_sphere_fills_image():
    # The image centre unprojects onto the optical axis; the tangent points of the camera's cone around the unit
    # sphere, (±sqrt(1 - 1/d^2), 0, 1/d) and (0, ±sqrt(1 - 1/d^2), 1/d), project to the image edges |u|, |v| = 1.
    s = math.sqrt(1 - 1 / D**2)
    uv = project(np.array([[s, 0, 1 / D], [-s, 0, 1 / D], [0, s, 1 / D], [0, -s, 1 / D]]), D).numpy()[:, :2]
    np.testing.assert_allclose(uv, [[1, 0], [-1, 0], [0, 1], [0, -1]], atol=1e-12)
    np.testing.assert_allclose(unproject(np.array([[0.0, 0.0, 2.5]]), D).numpy(), [[0, 0, D - 2.5]], atol=1e-12)
    assert focal_length(D) == pytest.approx(math.sqrt(D**2 - 1))
    with pytest.raises(ValueError, match="camera_distance"):
        focal_length(1.0)


def test_spatial_softmax_expectation_of_delta_is_its_location():
    H, W = 6, 8
    grid = ndc_grid(H, W).numpy()
    logits = np.full((1, H, W, 2), -1e4, np.float32)
    logits[0, 1, 2, 0] = 0.0  # row 1, column 2
    logits[0, 5, 7, 1] = 0.0
    prob = spatial_softmax(logits)
    np.testing.assert_allclose(tf.reduce_sum(prob, axis=[1, 2]).numpy(), 1.0, atol=1e-6)
    uv = expected_uv(prob).numpy()[0]
    np.testing.assert_allclose(uv, [grid[1, 2], grid[5, 7]], atol=1e-6)
    # NDC of pixel centres: column 2 of 8 -> u = 2.5/4 - 1; row 1 of 6 -> v = 1 - 1.5/3.
    np.testing.assert_allclose(uv[0], [2.5 / 4 - 1, 1 - 1.5 / 3], atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 4, 3), (1, 4, None, 3)])
def test_spatial_softmax_shape_errors(shape):
    traced = tf.function(spatial_softmax, input_signature=[tf.TensorSpec(shape, tf.float32)])
    with pytest.raises(ValueError, match="logits"):
        traced.get_concrete_function()


# --- losses on hand-made inputs ---------------------------------------------------------------------------------


def _consistent_pair(rng, n=6, batch=3):
    """Keypoints of view a (in front of the camera) and the same points moved by R_ab, as uvz."""
    xyz_a = rng.uniform(-0.7, 0.7, size=(batch, n, 3))
    R_ab = _rotations(batch, 7)
    xyz_b = np.einsum("bij,bnj->bni", R_ab, xyz_a)
    return xyz_a, xyz_b, R_ab


def test_consistency_and_pose_losses_vanish_on_consistent_keypoints(rng):
    xyz_a, xyz_b, R_ab = _consistent_pair(rng)
    uvz_a, uvz_b = project(xyz_a, D), project(xyz_b, D)
    assert consistency_loss(uvz_a, uvz_b, R_ab, D).numpy() == pytest.approx(0.0, abs=1e-20)
    assert pose_loss(xyz_a, xyz_b, R_ab).numpy() == pytest.approx(0.0, abs=1e-6)
    # Shifting one keypoint of view b by du in u: each direction contributes du^2 (b vs a moved to b) plus the
    # error of b's shifted point moved back into a; the first part alone is a lower bound: >= du^2 / (2 N batch).
    shifted = uvz_b.numpy().copy()
    shifted[0, 0, 0] += 0.1
    assert consistency_loss(uvz_a, shifted, R_ab, D).numpy() >= 0.01 / (2 * 6 * 3) - 1e-12


def test_pose_loss_is_the_angle_of_the_rotation_error(rng):
    xyz_a, _, _ = _consistent_pair(rng, batch=1)
    Rz = Rotation.from_euler("z", 30, degrees=True).as_matrix()[None]
    xyz_b = np.einsum("bij,bnj->bni", Rz, xyz_a)
    assert pose_loss(xyz_a, xyz_b, np.eye(3)[None]).numpy() == pytest.approx(math.radians(30), abs=1e-6)


def test_separation_loss_decreases_as_points_separate():
    delta_sq = 0.05
    values = []
    for gap in (0.0, 0.05, 0.1, 0.2, 0.3):
        xyz = np.array([[[0, 0, 0], [gap, 0, 0], [5, 5, 5]]], np.float64)  # third point far from both
        values.append(separation_loss(xyz, delta_sq).numpy())
    assert all(a > b for a, b in zip(values[:3], values[1:4]))
    # Two coincident points: the pairs (0,1) and (1,0) each cost delta^2; 1/N^2 normalization with N = 3.
    assert values[0] == pytest.approx(2 * delta_sq / 9)
    assert values[-1] == 0.0  # 0.3^2 > 0.05: beyond the threshold


def test_silhouette_loss_preset():
    H = W = 4
    mask = np.zeros((1, H, W), np.uint8)
    mask[0, :2] = 1  # top half
    inside = np.zeros((1, H, W, 1), np.float64)
    inside[0, 0, 0, 0] = 1.0
    uniform = np.full((1, H, W, 1), 1.0 / (H * W))
    assert silhouette_loss(inside, mask).numpy() == pytest.approx(0.0, abs=2e-12)  # -log(1 + eps)
    assert silhouette_loss(uniform, mask).numpy() == pytest.approx(math.log(2.0))  # half the mass inside
    with pytest.raises(ValueError, match="mask"):
        silhouette_loss(uniform, mask[:, :2])


def test_variance_loss_preset():
    H = W = 4
    grid = ndc_grid(H, W).numpy()
    delta = np.zeros((1, H, W, 1))
    delta[0, 2, 1, 0] = 1.0
    assert variance_loss(delta, expected_uv(delta)).numpy() == pytest.approx(0.0, abs=1e-12)
    # Half the mass at each of two pixels: variance = (distance / 2)^2.
    two = np.zeros((1, H, W, 1))
    two[0, 0, 0, 0] = two[0, 3, 3, 0] = 0.5
    dist2 = np.sum((grid[0, 0] - grid[3, 3]) ** 2)
    assert variance_loss(two, expected_uv(two)).numpy() == pytest.approx(dist2 / 4)


def test_orientation_targets_preset():
    # Identity pose: the front (+z) and back of the object both lie on the optical axis. A quarter turn about y
    # takes +z to +x: the front appears right of the back (the left/right flag is 1).
    uv = orientation_targets(np.eye(3)[None], D).numpy()
    np.testing.assert_allclose(uv, 0.0, atol=1e-12)
    Ry = Rotation.from_euler("y", 90, degrees=True).as_matrix()[None]
    uv = orientation_targets(Ry, D).numpy()[0]
    f = math.sqrt(D**2 - 1)
    np.testing.assert_allclose(uv, [[f / D, 0], [-f / D, 0]], atol=1e-12)


# --- the model ---------------------------------------------------------------------------------------------------


def test_model_outputs_and_save_load(tmp_path, rng):
    model = KeypointNet(num_keypoints=4, filters=4, camera_distance=D)
    images = rng.random((2, 16, 16, 1)).astype(np.float32)
    out = model(images)
    assert out["uv"].shape == (2, 4, 2) and out["z"].shape == (2, 4) and out["prob"].shape == (2, 16, 16, 4)
    uvz = tf.concat([out["uv"], out["z"][..., None]], axis=-1)
    np.testing.assert_allclose(out["xyz"].numpy(), unproject(uvz, D).numpy(), atol=1e-6)
    path = str(tmp_path / "kp.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(images)["xyz"].numpy(), out["xyz"].numpy(), atol=1e-5)
    assert loaded.get_config()["num_keypoints"] == 4


def test_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="loss_weights"):
        KeypointNet(loss_weights={"posee": 1.0})
    with pytest.raises(ValueError, match="anneal_steps"):
        KeypointNet(anneal_steps=(10, 5))
    with pytest.raises(ValueError, match="images"):
        KeypointNet(filters=4)(np.zeros((16, 16, 1), np.float32))


def test_short_training_lowers_loss_and_pose_is_a_rotation(splat_views):
    keras.utils.set_random_seed(0)
    data = splat_views(32, 16, seed=0)  # rendered at the camera distance D
    model = KeypointNet(num_keypoints=6, filters=8, camera_distance=D, anneal_steps=(20, 40), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    # Small batches, many steps: the batch-norm moving averages (momentum 0.9) must forget their initial values
    # (0.9^48 ~ 0.6%) for the inference-mode loss to reflect the training.
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(4)
    before = model.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    model.fit(dataset, epochs=6, shuffle=False, verbose=0)
    after = model.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    # Measured (seed 0, inference-mode loss on the training pairs): 5.98 -> 1.53, mostly the silhouette and variance
    # terms (the pose term needs far longer training); requiring a halving leaves room for run-to-run variation.
    assert after < 0.5 * before, (before, after)
    R = model.relative_pose(data["image_a"][:8], data["image_b"][:8])
    assert R.shape == (8, 3, 3)
    assert bool(tf.reduce_all(is_rotation(R, atol=1e-4)))


def test_eval_pose_method_loads_model_file(tmp_path, rng):
    from sphembed.pose.methods import get_method, load_method_modules

    model = KeypointNet(num_keypoints=4, filters=4, camera_distance=D)
    path = str(tmp_path / "kp.keras")
    images_a, images_b = (rng.random((3, 16, 16, 1)).astype(np.float32) for _ in range(2))
    expected = model.relative_pose(images_a, images_b).numpy()
    model.save(path)
    load_method_modules()
    method, feature = get_method("keypointnet", model=path)
    R = method(images_a, images_b)
    assert feature == "image" and bool(tf.reduce_all(is_rotation(R)))
    np.testing.assert_allclose(R.numpy(), expected, atol=1e-4)
