"""LiftedEmbeddingNet (sphembed.models.nets.lifted): the polar lift's geometry, exact commutation with quarter turns
of the view, shapes, configuration errors, serialization."""

import keras
import numpy as np
import pytest

from sphembed.models.layers.lift import ImageToSphere, polar_lift_coordinates
from sphembed.models.nets.lifted import LiftedEmbeddingNet

TINY = dict(base_filters=4, max_filters=8, context_filters=8, ring_blocks=1)


def test_lift_reads_the_polar_coordinates_of_the_view(rng):
    # Bilinear interpolation is exact on affine images, so the lift of a*row + b*col + c is that affine function of
    # the read coordinates (float32 round-off) wherever all four taps are inside the image.
    H, B = 16, 8
    rows, cols = np.mgrid[:H, :H].astype(np.float32)
    image = (0.3 * rows - 0.2 * cols + 1.0)[None, :, :, None]
    lifted = np.asarray(ImageToSphere(B)(image))
    r, c = polar_lift_coordinates(B, H)
    inside = (r >= 0) & (r <= H - 1) & (c >= 0) & (c <= H - 1)
    assert inside.mean() > 0.8  # the read circle reaches the image's border only near the equator
    np.testing.assert_allclose(lifted[0, ..., 0][inside], (0.3 * r - 0.2 * c + 1.0)[inside], atol=1e-5)
    # The last channel is cos(theta); the two hemispheres read the same pixels (mirror rows).
    theta = np.pi * (2 * np.arange(2 * B) + 1) / (4 * B)
    np.testing.assert_allclose(lifted[0, :, 0, 1], np.cos(theta), atol=1e-6)
    np.testing.assert_array_equal(lifted[0, ..., 0], lifted[0, ::-1, :, 0])
    # phi = 0 reads along the image's +x axis (the centre row pair), phi = pi/2 along -rows (up).
    assert np.allclose(r[:B, 0], H / 2 - 0.5) and np.all(np.diff(c[:B, 0]) > 0)
    assert np.allclose(c[:B, B // 2], H / 2 - 0.5) and np.all(np.diff(r[:B, B // 2]) < 0)


@pytest.mark.parametrize("B", [4, 8])
def test_lift_of_a_quarter_turn_is_a_roll(rng, B):
    image = rng.uniform(size=(2, 12, 12, 3)).astype(np.float32)
    lift = ImageToSphere(B)
    turned = np.rot90(image, 1, axes=(1, 2)).copy()  # counterclockwise, as sphembed's in-plane rotation
    np.testing.assert_allclose(lift(turned), np.roll(lift(image), 2 * B // 4, axis=2), atol=1e-6)


def test_network_commutes_with_quarter_turns(rng):
    """E(view turned by 90 degrees) = E(view) rolled by 2b / 4 longitudes, through every layer (float32 round-off
    of the convolutions: measured ~1e-6 of the output's scale; checked at 1e-4)."""
    net = LiftedEmbeddingNet(32, 1, 4, 5, **TINY)
    x = rng.uniform(size=(3, 32, 32, 1)).astype(np.float32)
    net(x, training=True)  # moves the batch-norm statistics off their initial values
    y = np.asarray(net(x, training=False))
    for turns in (1, 2, 3):
        y_turned = np.asarray(net(np.rot90(x, turns, axes=(1, 2)).copy(), training=False))
        err = np.abs(y_turned - np.roll(y, turns * 2, axis=2)).max() / np.abs(y).max()
        assert err < 1e-4, (turns, err)
    # Control: a quarter turn is not a symmetry of the output itself (the check above is not vacuous).
    assert np.abs(np.roll(y, 2, axis=2) - y).max() / np.abs(y).max() > 1e-2


@pytest.mark.parametrize("size,channels,b,C,lift", [(32, 1, 4, 3, None), (64, 3, 8, 2, 16), (16, 1, 2, 4, 4)])
def test_shapes(rng, size, channels, b, C, lift):
    net = LiftedEmbeddingNet(size, channels, b, C, lift_bandwidth=lift, **TINY)
    x = rng.uniform(size=(2, size, size, channels)).astype(np.float32)
    assert net(x).shape == (2, 2 * b, 2 * b, C)
    assert net.output_shape == (None, 2 * b, 2 * b, C) and net.input_shape == (None, size, size, channels)


def test_configuration_errors():
    with pytest.raises(ValueError, match="power of 2"):
        LiftedEmbeddingNet(32, 1, 4, 3, lift_bandwidth=12, **TINY)
    with pytest.raises(ValueError, match="power of 2"):
        LiftedEmbeddingNet(32, 1, 3, 3, lift_bandwidth=12, **TINY)
    with pytest.raises(ValueError, match="even int"):
        ImageToSphere(3)
    with pytest.raises(ValueError, match=r"\[batch, H, H, c\]"):
        ImageToSphere(4)(np.zeros((1, 8, 6, 1), np.float32))


def test_save_and_load_round_trip(rng, tmp_path):
    net = LiftedEmbeddingNet(16, 1, 2, 3, **TINY)
    x = rng.uniform(size=(2, 16, 16, 1)).astype(np.float32)
    path = str(tmp_path / "lifted.keras")
    net.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert isinstance(loaded, LiftedEmbeddingNet) and loaded.get_config()["ring_blocks"] == 1
    np.testing.assert_allclose(loaded(x, training=False), net(x, training=False), atol=1e-6)
