"""Serving signatures of the image modules (sphembed.hub_export.image_inputs): every accepted kind of image gives the
outputs of the equivalent canonical float32 image, every rejected kind an InvalidArgumentError naming the input."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from sphembed.hub_export.image_inputs import LUMA_WEIGHTS, export_image_module, serving_images
from sphembed.models.nets.encoder_decoder import EmbeddingNet, Synthesizer
from sphembed.pose.relative import relative_pose
from sphembed.pose.serving import export_pose_module
from sphembed.synthesis.novel_view import synthesize_views
from sphembed.synthesis.serving import export_synthesis_module

TINY = dict(latent_dim=16, base_filters=4, max_filters=8)
SIZE = 16  # the networks' trained image size


def _images(seed, n=2, size=SIZE, channels=1):
    return np.random.default_rng(seed).uniform(size=(n, size, size, channels)).astype(np.float32)


def _upsampled(x, k=2):
    return np.repeat(np.repeat(x, k, axis=1), k, axis=2)


# (what the user sends, the canonical float32 [b, 16, 16, 1] image it stands for), from a canonical image x.
def _accepted_kinds():
    def quantized(x):
        return np.round(x * 255).astype(np.uint8)

    def narrow(x):  # content 16 x 8 padded with 4 black columns on each side, as resize_with_pad centres it
        canonical = x.copy()
        canonical[:, :, :4] = canonical[:, :, 12:] = 0
        return _upsampled(canonical[:, :, 4:12]), canonical

    return {
        "float32": lambda x: (x, x),
        "uint8": lambda x: (quantized(x), quantized(x) / np.float32(255)),
        "rgb float32": lambda x: (np.repeat(x, 3, axis=-1), x),
        "rgb uint8": lambda x: (np.repeat(quantized(x), 3, axis=-1), quantized(x) / np.float32(255)),
        "32 x 32": lambda x: (_upsampled(x), x),
        "32 x 16 (narrow)": narrow,
    }


ACCEPTED = sorted(_accepted_kinds())

# (what the user sends, regex of the message after the input's name)
REJECTED = {
    "0-255 float": (lambda x: x * 255, r"float32 values must be in \[0, 1\].*serving_uint8.*got min .*, max 2"),
    "negative": (lambda x: x - 0.5, r"float32 values must be in \[0, 1\].*; got min -0"),
    "NaN": (lambda x: np.where(x > 0.5, np.nan, x).astype(np.float32), "values must be finite"),
    "inf": (lambda x: np.where(x > 0.5, np.inf, x).astype(np.float32), "values must be finite"),
    "2 channels": (lambda x: np.repeat(x, 2, axis=-1), r"images must have 1 \(gray\) or 3 \(RGB\) channels.*got "
                   r"shape \[2 16 16 2\]"),
    "4 channels": (lambda x: np.repeat(x, 4, axis=-1), r"images must have 1 \(gray\) or 3 \(RGB\) channels"),
    "0 x 16": (lambda x: x[:, :0], r"images must be at least 1 x 1 pixels"),
}


# -- the conversion itself ---------------------------------------------------------------------------------------

def test_serving_images_preset():
    x = _images(0)
    np.testing.assert_array_equal(serving_images(x, (SIZE, SIZE, 1)), x)  # the trained kind passes unchanged
    q = np.round(x * 255).astype(np.uint8)
    np.testing.assert_array_equal(serving_images(q, (SIZE, SIZE, 1)), q / np.float32(255))
    np.testing.assert_allclose(serving_images(_upsampled(x, 3), (SIZE, SIZE, 1)), x, atol=1e-6)  # area: exact
    np.testing.assert_array_equal(serving_images(x, (SIZE, SIZE, 3)), np.repeat(x, 3, axis=-1))  # gray -> RGB
    assert np.isclose(sum(LUMA_WEIGHTS), 1.0)  # so R = G = B (make-data's gray renders) keeps its value


def test_serving_images_random_rgb_matches_tf_grayscale():
    rgb = _images(1, n=3, size=9, channels=3)
    gray = serving_images(rgb, (9, 9, 1))
    # A second route: TF's luma, whose weights 0.2989, 0.5870, 0.1140 are rounded (they sum to 0.9999).
    np.testing.assert_allclose(gray, tf.image.rgb_to_grayscale(rgb), atol=1.5e-4)
    np.testing.assert_allclose(gray, rgb @ np.float32([0.299, 0.587, 0.114])[:, None], atol=1e-6)
    resized = serving_images(_images(2, size=7), (SIZE, SIZE, 1)).numpy()  # upsampled: any size is accepted
    assert resized.shape == (2, SIZE, SIZE, 1) and 0 <= resized.min() and resized.max() <= 1


@pytest.mark.parametrize("kind", sorted(REJECTED))
def test_serving_images_rejects(kind):
    make, message = REJECTED[kind]
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"image: {message}"):
        serving_images(make(_images(0)), (SIZE, SIZE, 1), name="image")


def test_serving_images_rejects_float_image_cast_to_uint8():
    cast = _images(0).astype(np.uint8)  # what TensorFlow makes of a float numpy image given to a uint8 signature
    cast[:, 0, 0] = 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="image: uint8 images must use 0-255; got an image whose "
                       "maximum is 1 .*send float32 images to serving_default"):
        serving_images(cast, (SIZE, SIZE, 1), name="image")


@pytest.mark.parametrize("images, shape, message", [
    (np.zeros((1, 4, 4, 1), np.int32), (4, 4, 1), "uint8 .* or float32 .*, got int32"),
    (np.zeros((4, 4, 1), np.float32), (4, 4, 1), r"shape \[batch, H, W, 1 or 3\]"),
    (np.zeros((1, 4, 4, 1), np.float32), (4, 4, 2), "1 \\(gray\\) or 3 \\(RGB\\) channels"),
])
def test_serving_images_static_errors(images, shape, message):
    with pytest.raises(ValueError, match=message):
        serving_images(images, shape, name="image")


# -- the modules -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    """Untrained tiny networks and their pose, embedding and synthesis SavedModels (loaded back)."""
    root = tmp_path_factory.mktemp("serving")
    keras.utils.set_random_seed(0)  # the weights, and so the correlation peaks the tolerances below are measured on
    E = EmbeddingNet(SIZE, 1, 4, 2, **TINY)
    G = Synthesizer(4, 2, SIZE, 1, **TINY)
    G(E(_images(0)))
    paths = {"pose": export_pose_module(E, str(root / "pose"), out_bandwidth=6),
             "embedding": export_image_module(str(root / "embedding"), E, "embedding"),
             "synthesis": export_synthesis_module(E, G, str(root / "synthesis"))}
    return E, G, paths, {name: tf.saved_model.load(path) for name, path in paths.items()}


def _signature(module, image_dtype, name="serving_default"):
    uint8 = {"serving_default": "serving_uint8", "embed": "embed_uint8"}[name]
    return module.signatures[uint8 if image_dtype == np.uint8 else name]


@pytest.mark.parametrize("kind", ACCEPTED)
def test_pose_module_accepts(modules, kind):
    E, _, _, loaded = modules
    (a, canonical_a), (b, canonical_b) = (_accepted_kinds()[kind](x) for x in (_images(3), _images(4)))
    out = _signature(loaded["pose"], a.dtype)(image_a=a, image_b=b)
    R, score = relative_pose(canonical_a, canonical_b, E, out_bandwidth=6, return_scores=True)
    # Graph vs eager float32 round-off (the in-graph luma / resize of the accepted kinds), amplified by the Newton
    # refinement on the untrained net's flat correlation peak: measured <= 7e-5 deg with these seed-0 weights, up to
    # 0.006 deg for other draws; a wrong conversion moves the peak by degrees (the grid step at B' = 6 is 30 deg).
    # The angle is 2 arcsin(||R1 - R2||_F / (2 sqrt 2)): well conditioned near 0, unlike the arccos of the trace,
    # whose float32 round-off alone reads as ~0.03 deg.
    chord = np.linalg.norm(np.asarray(out["rotation"], np.float64) - np.asarray(R, np.float64), axis=(1, 2))
    assert np.degrees(2 * np.arcsin(chord / (2 * np.sqrt(2)))).max() < 0.02
    np.testing.assert_allclose(out["score"], score, rtol=1e-4)


@pytest.mark.parametrize("kind", sorted(REJECTED))
@pytest.mark.parametrize("which", ["image_a", "image_b"])
def test_pose_module_rejects(modules, kind, which):
    make, message = REJECTED[kind]
    images = {"image_a": _images(3), "image_b": _images(4)}
    images[which] = make(images[which])
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{which}: {message}"):
        modules[3]["pose"].signatures["serving_default"](**images)


def test_pose_module_rejects_other_batches_and_ranks(modules):
    serving = modules[3]["pose"].signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="image_a and image_b must have the same batch size; "
                       "got 2 and 1"):
        serving(image_a=_images(3), image_b=_images(4, n=1))
    with pytest.raises(TypeError, match=r"TensorSpec\(shape=\(None, None, None, None\)"):  # argument binding
        serving(image_a=_images(3)[0], image_b=_images(4)[0])


@pytest.mark.parametrize("kind", ACCEPTED)
def test_embedding_module_accepts(modules, kind):
    E, _, _, loaded = modules
    images, canonical = _accepted_kinds()[kind](_images(5))
    out = _signature(loaded["embedding"], images.dtype)(inputs=images)["embedding"]
    np.testing.assert_allclose(out, E(canonical, training=False), atol=1e-5)  # graph vs eager round-off
    np.testing.assert_allclose(loaded["embedding"](canonical, training=False)["embedding"], out, atol=1e-5)


@pytest.mark.parametrize("kind", ["0-255 float", "NaN", "2 channels"])
def test_embedding_module_rejects(modules, kind):
    make, message = REJECTED[kind]
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"inputs: {message}"):
        modules[3]["embedding"].signatures["serving_default"](inputs=make(_images(5)))


@pytest.mark.parametrize("kind", ["uint8", "rgb float32", "32 x 32"])
def test_synthesis_module_accepts(modules, kind, sphere_signals):
    E, G, _, loaded = modules
    images, canonical = _accepted_kinds()[kind](_images(6))
    R = sphere_signals.random_rotations(np.random.default_rng(6), 2).astype(np.float32)
    out = _signature(loaded["synthesis"], images.dtype)(image=images, rotation=R)["image"]
    np.testing.assert_allclose(out, synthesize_views(canonical, R, E, G), atol=1e-5)
    embedding = _signature(loaded["synthesis"], images.dtype, "embed")(image=images)["embedding"]
    np.testing.assert_allclose(embedding, E(canonical, training=False), atol=1e-5)


def test_synthesis_module_rejects(modules, sphere_signals):
    serving = modules[3]["synthesis"].signatures["serving_default"]
    R = sphere_signals.random_rotations(np.random.default_rng(6), 2).astype(np.float32)
    make, message = REJECTED["0-255 float"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"image: {message}"):
        serving(image=make(_images(6)), rotation=R)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"rotation: must be rotation matrices .*got max"):
        serving(image=_images(6), rotation=2 * R)
    with pytest.raises(tf.errors.InvalidArgumentError, match="rotation: must be rotation matrices"):
        serving(image=_images(6), rotation=R * np.array([1, 1, -1], np.float32))  # a reflection: det -1
    with pytest.raises(tf.errors.InvalidArgumentError, match="rotation: must hold one .* got 1 rotations for 2"):
        serving(image=_images(6), rotation=R[:1])


def test_saved_model_cli_lists_signature_dtypes_and_shapes(modules):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    proc = subprocess.run([cli, "show", "--dir", modules[2]["pose"], "--all"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    blocks = {block.split("']")[0]: block for block in proc.stdout.split("signature_def['")[1:]}
    assert {"serving_default", "serving_uint8"} <= set(blocks)
    for name, dtype in (("serving_default", "DT_FLOAT"), ("serving_uint8", "DT_UINT8")):
        for image in ("image_a", "image_b"):
            assert f"inputs['{image}'] tensor_info:\n        dtype: {dtype}\n        shape: (-1, -1, -1, -1)" in \
                blocks[name]
        for output, shape in (("rotation", "(-1, 3, 3)"), ("euler_zyz", "(-1, 3)"), ("score", "(-1)")):
            assert f"outputs['{output}'] tensor_info:\n        dtype: DT_FLOAT\n        shape: {shape}" in blocks[name]
