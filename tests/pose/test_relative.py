"""relative_pose, align_image_to_mesh and the pose SavedModel, with small untrained Keras models.

A 1x1 convolution acts pointwise on the grid, so it commutes with rotations of band-limited maps: with 'images'
that are rotated sphere maps it is an exactly equivariant embedding model, and the known poses must come back.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from sphembed.models.sphere.rotations import geodesic_angle, rotate_map
from sphembed.pose.relative import align_image_to_mesh, relative_pose
from sphembed.pose.serving import export_pose_from_checkpoint, export_pose_module

B, CIN, C = 6, 3, 4


def _pointwise_model(seed=0):
    x = keras.Input((2 * B, 2 * B, CIN))
    y = keras.layers.Conv2D(C, 1, kernel_initializer=keras.initializers.GlorotUniform(seed))(x)
    return keras.Model(x, y)


def _views(sphere_signals, rng, n):
    base = sphere_signals.grid_map(sphere_signals.random_flm(rng, B, (n, CIN)), B).astype(np.float32)
    R_a = sphere_signals.random_rotations(rng, n).astype(np.float32)
    R_b = sphere_signals.random_rotations(rng, n).astype(np.float32)
    return base, rotate_map(base, R_a).numpy(), rotate_map(base, R_b).numpy(), R_a, R_b


def _unit_range(*maps):
    """The maps under one affine map onto [0, 1] (what the serving signatures accept). A pointwise model with a
    bias turns a*f + c into a*W f + const, and constants are rotation invariant, so the poses stay exact."""
    lo, hi = min(m.min() for m in maps), max(m.max() for m in maps)
    return [((m - lo) / (hi - lo)).astype(np.float32) for m in maps]


def _err_deg(R, R0):
    return np.degrees(geodesic_angle(tf.cast(R, tf.float64), tf.cast(R0, tf.float64)).numpy())


def test_relative_pose_recovers_R_b_R_a_transpose(rng, sphere_signals):
    _, img_a, img_b, R_a, R_b = _views(sphere_signals, rng, 3)
    R, score = relative_pose(img_a, img_b, _pointwise_model(), out_bandwidth=8, return_scores=True)
    assert R.shape == (3, 3, 3) and score.shape == (3,)
    # float32 round-off of the rotated maps; measured <= 0.05 deg.
    assert np.all(_err_deg(R, R_b @ np.swapaxes(R_a, 1, 2)) < 0.5)


def test_align_image_to_mesh_recovers_view_pose(rng, sphere_signals):
    base, img, _, R_a, _ = _views(sphere_signals, rng, 2)
    net = _pointwise_model()
    sphcnn = lambda x, training=False: {"block1": net(x), "logits": tf.zeros([2, 5])}  # noqa: E731
    R = align_image_to_mesh(img, base, net, sphcnn, sphcnn_endpoint="block1", out_bandwidth=8)
    assert np.all(_err_deg(R, R_a) < 0.5)
    with pytest.raises(ValueError, match=r"returns endpoints \['block1', 'logits'\]"):
        align_image_to_mesh(img, base, net, sphcnn)


def test_align_image_to_trimesh_by_ray_casting(sphere_signals):
    import trimesh

    from sphembed.data.meshes import normalize_mesh
    from sphembed.data.spheremap import sphere_map

    # An asymmetric mesh; the 'image' is the ray-cast map of the rotated mesh, the embedding the identity.
    mesh = trimesh.creation.box([1.0, 0.6, 0.3])
    mesh = trimesh.util.concatenate([mesh, trimesh.creation.icosphere(2, 0.25).apply_translation([0.5, 0.3, 0.15])])
    R0 = sphere_signals.random_rotations(np.random.default_rng(3), 1)[0]
    # A view in pose R0 shows the normalized mesh's vertices R0 v (normalize first, then rotate).
    rotated = normalize_mesh(mesh.copy()).apply_transform(np.block([[R0, np.zeros((3, 1))], [np.zeros((1, 4))]])
                                                          + np.diag([0, 0, 0, 1.0]))
    image = sphere_map(rotated, 16)[None]
    identity = lambda x, training=False: x  # noqa: E731
    R = align_image_to_mesh(image, mesh, identity, identity, bandwidth=16, out_bandwidth=16)
    # Ray-cast maps are not band-limited (edges), so alignment is approximate; measured 1.0-1.6 deg over 6 seeds.
    assert _err_deg(R, R0[None]) < 5.0
    with pytest.raises(ValueError, match="bandwidth .* is needed to ray-cast meshes"):
        align_image_to_mesh(image, mesh, identity, identity)


def test_relative_pose_bad_images():
    with pytest.raises(ValueError, match=r"image_b must have shape \[batch, H, W, c\]"):
        relative_pose(np.zeros((1, 12, 12, 3)), np.zeros((12, 12, 3)), _pointwise_model())


def test_pose_savedmodel_fresh_process(rng, tmp_path, sphere_signals):
    _, img_a, img_b, R_a, R_b = _views(sphere_signals, rng, 2)
    img_a, img_b = _unit_range(img_a, img_b)
    path = export_pose_module(_pointwise_model(), str(tmp_path / "pose"), out_bandwidth=8)
    np.save(tmp_path / "a.npy", img_a)
    np.save(tmp_path / "b.npy", img_b)
    script = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "a, b = np.load(sys.argv[2]), np.load(sys.argv[3])\n"
        "out = m.signatures['serving_default'](image_a=tf.constant(a), image_b=tf.constant(b))\n"
        "call = m((tf.constant(a), tf.constant(b)), False)\n"
        "print(json.dumps({k: v.numpy().tolist() for k, v in out.items()} | {'call': call['rotation'].numpy().tolist(),"
        " 'n_vars': len(m.variables), 'n_train': len(m.trainable_variables), 'n_reg': len(m.regularization_losses)}))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script, path, str(tmp_path / "a.npy"), str(tmp_path / "b.npy")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    R = np.array(out["rotation"])
    assert R.shape == (2, 3, 3) and np.array(out["euler_zyz"]).shape == (2, 3) and np.array(out["score"]).shape == (2,)
    assert np.all(_err_deg(R, R_b @ np.swapaxes(R_a, 1, 2)) < 0.5)
    np.testing.assert_allclose(np.array(out["call"]), R, atol=1e-6)
    from scipy.spatial.transform import Rotation

    np.testing.assert_allclose(Rotation.from_euler("ZYZ", out["euler_zyz"]).as_matrix(), R, atol=1e-5)
    assert (out["n_vars"], out["n_train"], out["n_reg"]) == (2, 2, 0)
    # The TF1 session loader of saved_model_cli restores variables differently (Keras 3 variables must be unwrapped).
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    proc = subprocess.run([cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def", "serving_default",
                           "--inputs", f"image_a={tmp_path / 'a.npy'};image_b={tmp_path / 'b.npy'}",
                           "--outdir", str(tmp_path / "cli")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "cli" / "rotation.npy"), R, atol=1e-5)


def test_pose_savedmodel_of_embedding_net(tmp_path):
    from sphembed.models.nets.encoder_decoder import EmbeddingNet

    net = EmbeddingNet(16, 1, 4, 2, latent_dim=16, base_filters=4, max_filters=8)  # untrained, image_shape from config
    x = np.random.default_rng(0).random((2, 16, 16, 1)).astype(np.float32)
    net(x)
    net.save(tmp_path / "embedding.keras")  # through the checkpoint route of `export-hub --model pose`
    path = export_pose_from_checkpoint(str(tmp_path / "embedding.keras"), str(tmp_path / "pose"), out_bandwidth=6)
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](image_a=tf.constant(x), image_b=tf.constant(x[::-1]))
    R, score = relative_pose(x, x[::-1], net, out_bandwidth=6, return_scores=True)
    np.testing.assert_allclose(out["rotation"].numpy(), R.numpy(), atol=1e-4)
    np.testing.assert_allclose(out["score"].numpy(), score.numpy(), rtol=1e-4)


@pytest.mark.parametrize("preset, expected", [("demo", 32), ("paper", 64)])
def test_pose_export_takes_the_search_bandwidth_of_its_preset(monkeypatch, preset, expected):
    # `sphembed demo --preset paper` exports the pose module at the paper preset's B', not the demo's.
    from sphembed import demo
    from sphembed.pose import serving
    from sphembed.presets import get_preset

    assert get_preset(preset, "pose")["out_bandwidth"] == expected
    calls = []
    monkeypatch.setattr(serving, "load_model", lambda path: f"model of {path}")
    monkeypatch.setattr(serving, "export_pose_module", lambda model, path, B, outputs: calls.append((model, B)))
    serving.export_pose_from_checkpoint("ckpt.keras", "out", preset=preset)
    serving.export_pose_from_checkpoint("ckpt.keras", "out", preset=preset, out_bandwidth=12)
    assert calls == [("model of ckpt.keras", expected), ("model of ckpt.keras", 12)]
    stages = demo.demo_stages("o", preset, data="." if preset == "paper" else None)
    stage = {name: cmds for name, cmds, _ in stages}["pose-hub"][0]
    assert stage[stage.index("--preset") + 1] == preset
