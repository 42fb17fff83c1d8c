"""Image-grid Keras layers: `PaddedConv2D` (zero or circular padding per axis) and `ResidualBlock` (ResNet-v2 basic
block), shared by the encoder-decoders, the lifted embedding net and the baselines.

Sphere maps are `[batch, 2B, 2B, C]`, axis 1 theta (north->south), axis 2 phi; `circular=True` pads axis 2
periodically (longitude) and axis 1 with zeros.

Properties (checked in tests/models/layers/test_image_layers.py):
  * `PaddedConv2D(circular=False)` equals keras `Conv2D` / `Conv2DTranspose` with padding="same" (same weights).
  * `PaddedConv2D(circular=True)` commutes with longitude rolls: conv(roll(x, s * k)) = roll(conv(x), k) for stride s,
    and transposed conv(roll(x, k)) = roll(conv(x), s * k); so does `ResidualBlock(circular=True)`.
"""

import math

import keras
import tensorflow as tf

__all__ = ["BN_MOMENTUM", "PaddedConv2D", "ResidualBlock"]

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
