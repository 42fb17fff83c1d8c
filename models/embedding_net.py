"""Cross-domain encoder-decoders: `EmbeddingNet` (image -> sphere map) and `Synthesizer` (sphere map -> image).

DESIGN.md §4 and paper §3.2.1 / appendix A.2-A.3. One residual encoder and one residual decoder, both Keras 3
functional models, are shared by the two networks with the roles swapped:

  encoder: 7x7 stride-2 conv, then stages of 2 ResNet-v2 basic blocks (the first strided), channels
           base_filters doubling per stage up to max_filters, down to 2x2 (or the first odd size), then a conv over
           the whole remaining grid -> latent [batch, latent_dim] (1024 in the paper).
  decoder: latent -> s0 x s0 by a transposed conv (s0 = 4 when the output size is 4 * 2^k), then
           [ResNet-v2 basic block + stride-2 4x4 transposed conv] up to the output size (channels halving down to
           base_filters), then a linear 3x3 conv to the output channels. No skip connections across domains.

Sphere maps are `[batch, 2B, 2B, C]`, axis 1 theta (north->south), axis 2 phi. Convolutions over sphere maps pad
circularly along phi (axis 2) and with zeros along theta; convolutions over images pad with zeros ("same").

Properties (checked in tests/test_embedding_net.py):
  * `PaddedConv2D(circular=False)` equals keras `Conv2D` / `Conv2DTranspose` with padding="same" (same weights).
  * `PaddedConv2D(circular=True)` commutes with longitude rolls: conv(roll(x, s * k)) = roll(conv(x), k) for stride s,
    and transposed conv(roll(x, k)) = roll(conv(x), s * k); so do `ResidualBlock(circular=True)` and every decoder
    stage after the first transposed conv of `EmbeddingNet` (the latent itself has no longitude).
  * Output shapes: EmbeddingNet [batch, H, H, c] -> [batch, 2b, 2b, C]; Synthesizer [batch, 2B, 2B, C] -> [batch, H, H, c].
"""

import math

import keras
import tensorflow as tf

__all__ = [
    "PaddedConv2D",
    "ResidualBlock",
    "image_encoder",
    "sphere_encoder",
    "image_decoder",
    "sphere_decoder",
    "EmbeddingNet",
    "Synthesizer",
]

# Batch-norm moving averages settle within ~50 steps (keras' default 0.99 needs ~500, longer than a demo run).
BN_MOMENTUM = 0.9


def _pair(value, name):
    """int or (int, int) -> (int, int): per-axis sizes (axis 1, axis 2)."""
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


@keras.saving.register_keras_serializable(package="sphembed")
class PaddedConv2D(keras.layers.Layer):
    """Conv2D or Conv2DTranspose with "same" output size ([H, W] -> [H/sh, W/sw] or [H*s, W*s]).

    Padding is explicit: zeros along axis 1 (height / theta); along axis 2 (width / phi) circular when `circular`
    (periodic longitude of sphere maps), zeros otherwise. With zeros everywhere the layer equals keras'
    padding="same" (TensorFlow's alignment: for a conv, pad (k - s) // 2 before and the rest after, per axis).

    Args:
      filters: int, output channels.
      kernel_size: int k or (kh, kw).
      strides: int s or (sh, sw); H and W must be multiples of them for a conv; a transposed conv takes a square
        kernel and stride with k >= s.
      transpose: bool, transposed (upsampling) conv.
      circular: bool, circular padding along axis 2.
      use_bias, kernel_initializer: as in keras Conv2D.
    """

    def __init__(self, filters, kernel_size, strides=1, transpose=False, circular=False, use_bias=True,
                 kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        kernel, stride = _pair(kernel_size, "kernel_size"), _pair(strides, "strides")
        if transpose and (kernel[0] != kernel[1] or stride[0] != stride[1]):
            raise ValueError(f"a transposed conv needs a square kernel and stride, got {kernel_size}, {strides}")
        if transpose and kernel[0] < stride[0]:
            raise ValueError(f"a transposed conv needs kernel_size >= strides, got {kernel[0]} < {stride[0]}")
        self.filters, self.kernel_size, self.strides = int(filters), kernel, stride
        self.transpose, self.circular, self.use_bias = bool(transpose), bool(circular), bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        conv = keras.layers.Conv2DTranspose if self.transpose else keras.layers.Conv2D
        self.conv = conv(self.filters, self.kernel_size, strides=self.strides, padding="valid", use_bias=self.use_bias,
                         kernel_initializer=self.kernel_initializer, name="conv")
        if self.transpose:
            k, s = kernel[0], stride[0]
            # Pad p whole input samples on each side so every kept output sample has all its k / s contributions;
            # keep the window keras' "same" keeps: full-output index (k - s) // 2 onwards, shifted by s * p.
            self._pad = ((math.ceil(k / s) - 1,) * 2,) * 2
            self._crop = (k - s) // 2 + s * self._pad[0][0]
        else:
            totals = [max(k - s, 0) for k, s in zip(kernel, stride)]
            self._pad = tuple((t // 2, t - t // 2) for t in totals)

    def _padded_shape(self, shape):
        grow = [None if n is None else n + sum(p) for n, p in zip(shape[1:3], self._pad)]
        return (shape[0], *grow, shape[3])

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: input must have shape [batch, H, W, C], got {input_shape}")
        if not self.transpose and any(n is not None and n % s for n, s in zip(input_shape[1:3], self.strides)):
            raise ValueError(f"{self.name}: H and W must be multiples of strides={self.strides}, got {input_shape}")
        self.conv.build(self._padded_shape(input_shape))

    def compute_output_shape(self, input_shape):
        def scale(n, s):
            return None if n is None else (n * s if self.transpose else n // s)

        return (input_shape[0], *(scale(n, s) for n, s in zip(input_shape[1:3], self.strides)), self.filters)

    def _pad_input(self, x):
        (top, bottom), (left, right) = self._pad
        if top or bottom:
            x = tf.pad(x, [[0, 0], [top, bottom], [0, 0], [0, 0]])
        if not (left or right):
            return x
        if self.circular:
            W = x.shape[2]
            if W is not None and max(left, right) <= W:  # slices: cheaper than a gather, and so is their gradient
                return tf.concat([x[:, :, W - left:], x, x[:, :, :right]], axis=2)
            W = tf.shape(x)[2]
            return tf.gather(x, tf.math.floormod(tf.range(-left, W + right), W), axis=2)
        return tf.pad(x, [[0, 0], [0, 0], [left, right], [0, 0]])

    def call(self, x):
        y = self.conv(self._pad_input(x))
        if self.transpose:
            c, s = self._crop, self.strides[0]
            y = y[:, c:c + s * tf.shape(x)[1], c:c + s * tf.shape(x)[2]]
        return y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "transpose": self.transpose, "circular": self.circular,
                "use_bias": self.use_bias, "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@keras.saving.register_keras_serializable(package="sphembed")
class ResidualBlock(keras.layers.Layer):
    """ResNet-v2 basic block: y = shortcut(a) + conv_k(relu(bn(conv_k,s(a)))), a = relu(bn(x)).

    The shortcut is x itself, or a 1x1 strided conv of a when the stride or the channel count changes.

    Args:
      filters: int, output channels.
      strides: int or (sh, sw), stride of the first conv (downsampling).
      circular: bool, circular padding along axis 2 (sphere maps).
      kernel_size: int or (kh, kw) of both convs (3: the ResNet block).
    """

    def __init__(self, filters, strides=1, circular=False, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.circular = int(filters), bool(circular)
        self.strides, self.kernel_size = _pair(strides, "strides"), _pair(kernel_size, "kernel_size")
        self.bn1 = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="bn1")
        self.conv1 = PaddedConv2D(self.filters, self.kernel_size, self.strides, circular=self.circular,
                                  use_bias=False, name="conv1")
        self.bn2 = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="bn2")
        self.conv2 = PaddedConv2D(self.filters, self.kernel_size, circular=self.circular, use_bias=False, name="conv2")
        self.projection = None

    def build(self, input_shape):
        self.bn1.build(input_shape)
        self.conv1.build(input_shape)
        mid = self.conv1.compute_output_shape(input_shape)
        self.bn2.build(mid)
        self.conv2.build(mid)
        if self.strides != (1, 1) or input_shape[-1] != self.filters:
            self.projection = PaddedConv2D(self.filters, 1, self.strides, use_bias=False, name="projection")
            self.projection.build(input_shape)

    def compute_output_shape(self, input_shape):
        return self.conv1.compute_output_shape(input_shape)

    def call(self, x, training=None):
        a = tf.nn.relu(self.bn1(x, training=training))
        shortcut = x if self.projection is None else self.projection(a)
        y = self.conv1(a)
        y = self.conv2(tf.nn.relu(self.bn2(y, training=training)))
        return y + shortcut

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": list(self.strides),
                "circular": self.circular, "kernel_size": list(self.kernel_size)}


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


class _EncoderDecoder(keras.Model):
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


@keras.saving.register_keras_serializable(package="sphembed")
class EmbeddingNet(_EncoderDecoder):
    """Image -> spherical embedding: float32 [batch, H, H, c] -> [batch, 2b, 2b, C] (paper's E).

    Args:
      image_size: int H (even, >= 4).
      image_channels: int c (1 gray, 3 RGB).
      target_bandwidth: int b of the target endpoint (2b x 2b maps).
      target_channels: int C of the target endpoint.
      latent_dim: int, 1D bottleneck (1024 in the paper).
      base_filters, max_filters: encoder channels 64 doubling to at most 256 in the paper; the decoder mirrors them.
    """

    def __init__(self, image_size, image_channels, target_bandwidth, target_channels, latent_dim=1024,
                 base_filters=64, max_filters=256, **kwargs):
        kwargs.setdefault("name", "embedding_net")
        config = dict(image_size=image_size, image_channels=image_channels, target_bandwidth=target_bandwidth,
                      target_channels=target_channels, latent_dim=latent_dim, base_filters=base_filters,
                      max_filters=max_filters)
        super().__init__(image_encoder(image_size, image_channels, latent_dim, base_filters, max_filters),
                         sphere_decoder(latent_dim, target_bandwidth, target_channels, base_filters, max_filters),
                         config, **kwargs)


@keras.saving.register_keras_serializable(package="sphembed")
class Synthesizer(_EncoderDecoder):
    """Spherical embedding -> image: float32 [batch, 2B, 2B, C] -> [batch, H, H, c] in [0, 1] (paper's G).

    Args:
      bandwidth: int B of the input embedding (2B x 2B maps).
      sphere_channels: int C of the input embedding.
      image_size: int H (even, >= 4).
      image_channels: int c.
      latent_dim, base_filters, max_filters: as in `EmbeddingNet`.
    """

    def __init__(self, bandwidth, sphere_channels, image_size, image_channels, latent_dim=1024, base_filters=64,
                 max_filters=256, **kwargs):
        kwargs.setdefault("name", "synthesizer")
        config = dict(bandwidth=bandwidth, sphere_channels=sphere_channels, image_size=image_size,
                      image_channels=image_channels, latent_dim=latent_dim, base_filters=base_filters,
                      max_filters=max_filters)
        super().__init__(sphere_encoder(bandwidth, sphere_channels, latent_dim, base_filters, max_filters),
                         image_decoder(latent_dim, image_size, image_channels, base_filters, max_filters),
                         config, **kwargs)
