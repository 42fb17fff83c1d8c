"""Hub export of the SphericalCNN: reusable-SavedModel contract, fresh-process reload, tf_keras, frozen layer."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from sphembed.cli import main
from sphembed.hub_export import export_sphcnn, list_endpoints, load_targets_layer
from sphembed.models.nets.sphcnn import SphericalCNN, endpoint_model

B = 8


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny SphericalCNN with non-trivial batch-norm state, saved as .keras and exported by the CLI."""
    root = tmp_path_factory.mktemp("hub")
    keras.utils.set_random_seed(0)
    model = SphericalCNN(B, in_channels=2, num_classes=3, stem_channels=4, stages=((8, 1), (16, 1)),
                         weight_decay=1e-3)
    rng = np.random.default_rng(0)
    for v in model.non_trainable_variables:  # moving statistics, so inference differs from training mode
        v.assign(rng.uniform(0.5, 1.5, size=v.shape).astype("float32"))
    checkpoint = str(root / "model.keras")
    model.save(checkpoint)
    path = str(root / "module")
    assert main(["export-hub", "--model", "sphcnn", "--checkpoint", checkpoint, "--out", path]) == 0
    x = rng.normal(size=(3, 2 * B, 2 * B, 2)).astype("float32")
    return model, path, x


def test_fresh_process_hub_load_reproduces_keras(exported, tmp_path):
    model, path, x = exported
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import tensorflow_hub as hub
        module = hub.load(sys.argv[1])
        out = module(np.load(sys.argv[2]), training=False)
        np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})
    """)  # no sphembed import: the module must be self-contained
    result = subprocess.run([sys.executable, "-c", script, path, str(tmp_path / "x.npy"), str(tmp_path / "y.npz")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = np.load(tmp_path / "y.npz")
    expected = tf.function(endpoint_model(model))(x, training=False)  # the same graph ops as the SavedModel
    assert sorted(loaded.files) == ["block1", "block2"]
    for name in loaded.files:
        np.testing.assert_array_equal(loaded[name], expected[name].numpy())


def test_reusable_savedmodel_contract(exported):
    model, path, x = exported
    import tensorflow_hub as hub

    module = hub.load(path)
    assert len(module.variables) == len(model.variables)
    assert len(module.trainable_variables) == len(model.trainable_variables)
    reg = sum(float(f()) for f in module.regularization_losses)
    np.testing.assert_allclose(reg, float(tf.add_n(model.losses)), rtol=1e-5)
    serving = module.signatures["serving_default"](inputs=tf.constant(x))
    eager = endpoint_model(model)(x, training=False)
    for name in ("block1", "block2"):
        # Graph vs eager execution of the same float32 ops: round-off only (measured <= 3e-8).
        np.testing.assert_allclose(serving[name].numpy(), eager[name].numpy(), rtol=1e-5, atol=1e-6)
    classify = module.signatures["classify"](inputs=tf.constant(x))
    np.testing.assert_allclose(classify["logits"].numpy(), model(x, training=False).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(classify["probabilities"].numpy().sum(axis=-1), 1.0, rtol=1e-6)
    trained = module(x, training=True)["block1"].numpy()  # batch statistics instead of the moving ones
    assert np.abs(trained - eager["block1"].numpy()).max() > 1e-3


def test_tf_keras_hub_keras_layer_consumes_module(exported):
    model, path, x = exported
    import tensorflow_hub as hub
    import tf_keras

    net = tf_keras.Sequential([tf_keras.Input((2 * B, 2 * B, 2)), hub.KerasLayer(path, output_key="block2")])
    expected = endpoint_model(model)(x, training=False)["block2"].numpy()
    np.testing.assert_allclose(net(x).numpy(), expected, rtol=1e-5, atol=1e-6)  # graph vs eager round-off


def test_targets_layer_is_frozen_and_matches(exported):
    model, path, x = exported
    input_shape, endpoints = list_endpoints(path)
    assert input_shape == [None, 2 * B, 2 * B, 2]
    assert endpoints == {"block1": [None, 2 * B, 2 * B, 2], "block2": [None, B, B, 4]}
    inputs = keras.Input((2 * B, 2 * B, 2))
    layer = load_targets_layer(path, "block2")
    targets = keras.Model(inputs, layer(inputs))
    assert targets.output.shape == (None, B, B, 4)
    assert not layer.trainable_weights and not targets.trainable_weights
    expected = endpoint_model(model)(x, training=False)["block2"].numpy()
    np.testing.assert_allclose(targets(x, training=True).numpy(), expected, rtol=1e-5, atol=1e-6)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.reduce_sum(targets(xt))
    assert tape.gradient(y, xt) is None  # frozen: no gradient flows into the targets
    clone = type(layer).from_config(layer.get_config())
    assert (clone.handle, clone.endpoint) == (path, "block2")


def test_export_subset_of_endpoints(exported, tmp_path):
    model, _, _ = exported
    path = export_sphcnn(model, str(tmp_path / "subset"), endpoints=["block2"])
    assert list(list_endpoints(path)[1]) == ["block2"]
    with pytest.raises(ValueError, match=r"unknown endpoint\(s\) \['block9'\]"):
        export_sphcnn(model, str(tmp_path / "bad"), endpoints=["block9"])


def test_bad_modules_and_inputs_raise(exported, tmp_path):
    _, path, _ = exported
    with pytest.raises(ValueError, match="has no endpoint 'block7'; it has \\['block1', 'block2'\\]"):
        load_targets_layer(path, "block7")
    with pytest.raises(ValueError, match=r"expects inputs of shape \[None, 16, 16, 2\], got inputs shape"):
        load_targets_layer(path, "block1")(keras.Input((32, 32, 2)))
    with pytest.raises(ValueError, match="no SavedModel"):
        list_endpoints(str(tmp_path))
    other = tf.train.Checkpoint()
    other.f = tf.function(lambda: tf.constant(1.0), input_signature=[])
    tf.saved_model.save(other, str(tmp_path / "other"))
    with pytest.raises(ValueError, match="not a reusable module"):
        load_targets_layer(str(tmp_path / "other"), "block1")
