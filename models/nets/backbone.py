"""The residual encoder-decoder backbone (DESIGN.md §4, paper §3.2.1 / appendix A.2-A.3) shared by `EmbeddingNet`,
`Synthesizer` (models/nets/encoder_decoder.py) and `PoseRegressor` (its image encoder):

  encoder: 7x7 stride-2 conv, then stages of 2 ResNet-v2 basic blocks (the first strided), channels
           base_filters doubling per stage up to max_filters, down to 2x2 (or the first odd size), then a conv over
           the whole remaining grid -> latent [batch, latent_dim] (1024 in the paper).
  decoder: latent -> s0 x s0 by a transposed conv (s0 = 4 when the output size is 4 * 2^k), then
           [ResNet-v2 basic block + stride-2 4x4 transposed conv] up to the output size (channels halving down to
           base_filters), then a linear 3x3 conv to the output channels. No skip connections across domains.

Convolutions over sphere maps `[batch, 2B, 2B, C]` pad circularly along phi (axis 2) and with zeros along theta;
convolutions over images pad with zeros ("same"). Every decoder stage after the first transposed conv commutes with
longitude rolls (the latent itself has no longitude).
"""

import keras

from sphembed.models.layers.image import BN_MOMENTUM, PaddedConv2D, ResidualBlock

__all__ = ["image_encoder", "sphere_encoder", "image_decoder", "sphere_decoder", "EncoderDecoder"]


def _check_size(size, name):
    if not isinstance(size, int) or size < 4 or size % 2:
        raise ValueError(f"{name} must be an even int >= 4, got {size!r}")


def _encoder(size, channels, circular, latent_dim, base_filters, max_filters, name):
    """[batch, size, size, channels] -> [batch, latent_dim] (module docstring)."""
    inputs = keras.Input((size, size, channels), name="inputs")
    x = PaddedConv2D(base_filters, 7, strides=2, circular=circular, name="stem")(inputs)
    n, stage = size // 2, 0
    while n > 2 and n % 2 == 0:
        filters = min(base_filters * 2 ** stage, max_filters)
        x = ResidualBlock(filters, strides=2, circular=circular, name=f"stage{stage}_block0")(x)
        x = ResidualBlock(filters, circular=circular, name=f"stage{stage}_block1")(x)
        n, stage = n // 2, stage + 1
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="final_bn")(x)
    x = keras.layers.ReLU(name="final_relu")(x)
    # A conv over the whole n x n grid (no padding): the 1D bottleneck.
    x = keras.layers.Conv2D(latent_dim, n, padding="valid", name="latent")(x)
    return keras.Model(inputs, keras.layers.Flatten(name="flatten")(x), name=name)


def _decoder(latent_dim, size, channels, circular, base_filters, max_filters, output_activation, name):
    """[batch, latent_dim] -> [batch, size, size, channels] (module docstring)."""
    s0, n_up = size, 0
    while s0 > 4 and s0 % 2 == 0:
        s0, n_up = s0 // 2, n_up + 1

    def filters(stage):  # stage 0 at s0 x s0, stage n_up at the output size: base_filters at full resolution
        return min(base_filters * 2 ** (n_up - stage), max_filters)

    inputs = keras.Input((latent_dim,), name="latent")
    x = keras.layers.Reshape((1, 1, latent_dim), name="to_grid")(inputs)
    x = keras.layers.Conv2DTranspose(filters(0), s0, padding="valid", name="from_latent")(x)
    for stage in range(n_up):
        x = ResidualBlock(filters(stage), circular=circular, name=f"stage{stage}_block")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"stage{stage}_up_bn")(x)
        x = keras.layers.ReLU(name=f"stage{stage}_up_relu")(x)
        x = PaddedConv2D(filters(stage + 1), 4, strides=2, transpose=True, circular=circular,
                         name=f"stage{stage}_up")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="final_bn")(x)
    x = keras.layers.ReLU(name="final_relu")(x)
    x = PaddedConv2D(channels, 3, circular=circular, kernel_initializer="glorot_uniform", name="output")(x)
    if output_activation is not None:
        x = keras.layers.Activation(output_activation, name="output_activation")(x)
    return keras.Model(inputs, x, name=name)


def image_encoder(image_size, image_channels, latent_dim=1024, base_filters=64, max_filters=256, name="image_encoder"):
    """Residual image encoder with zero padding, up to the 1D bottleneck (reused by the pose-regression baseline).

    Args:
      image_size: int H (even, >= 4); images are square [batch, H, H, c].
      image_channels: int c.
      latent_dim: int, bottleneck size (1024 in the paper).
      base_filters, max_filters: channels of the first stage and the cap (64 and 256 in the paper).

    Returns:
      keras.Model: float32 [batch, H, H, c] -> [batch, latent_dim].
    """
    _check_size(image_size, "image_size")
    return _encoder(image_size, image_channels, False, latent_dim, base_filters, max_filters, name)


def sphere_encoder(bandwidth, channels, latent_dim=1024, base_filters=64, max_filters=256, name="sphere_encoder"):
    """Residual encoder of sphere maps (circular padding along phi), up to the 1D bottleneck.

    Args:
      bandwidth: int B (>= 2); maps are [batch, 2B, 2B, C].
      channels: int C.
      latent_dim, base_filters, max_filters: as in `image_encoder`.

    Returns:
      keras.Model: float32 [batch, 2B, 2B, C] -> [batch, latent_dim].
    """
    _check_size(2 * bandwidth, "2 * bandwidth")
    return _encoder(2 * bandwidth, channels, True, latent_dim, base_filters, max_filters, name)


def image_decoder(latent_dim, image_size, image_channels, base_filters=64, max_filters=256,
                  output_activation="sigmoid", name="image_decoder"):
    """Residual decoder from the 1D bottleneck to images (zero padding).

    Returns:
      keras.Model: float32 [batch, latent_dim] -> [batch, H, H, c] (in [0, 1] with the default sigmoid).
    """
    _check_size(image_size, "image_size")
    return _decoder(latent_dim, image_size, image_channels, False, base_filters, max_filters, output_activation, name)


def sphere_decoder(latent_dim, bandwidth, channels, base_filters=64, max_filters=256, output_activation=None,
                   name="sphere_decoder"):
    """Residual decoder from the 1D bottleneck to sphere maps (circular padding along phi; linear output).

    Returns:
      keras.Model: float32 [batch, latent_dim] -> [batch, 2B, 2B, C].
    """
    _check_size(2 * bandwidth, "2 * bandwidth")
    return _decoder(latent_dim, 2 * bandwidth, channels, True, base_filters, max_filters, output_activation, name)


class EncoderDecoder(keras.Model):
    """encoder -> 1D latent -> decoder; subclasses name the two domains. `encoder` and `decoder` are attributes."""

    def __init__(self, encoder, decoder, config, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self._config = dict(config)  # the subclass' constructor arguments
        self.built = True  # both parts are functional models, built with their input shapes

    @property
    def input_shape(self):
        """(None, H, W, C) of the encoder."""
        return self.encoder.input_shape

    @property
    def output_shape(self):
        """(None, H', W', C') of the decoder."""
        return self.decoder.output_shape

    def call(self, inputs, training=None):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def get_config(self):
        return {**super().get_config(), **self._config}
