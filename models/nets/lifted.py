"""`LiftedEmbeddingNet`: image -> spherical embedding through the camera geometry, exactly equivariant to in-plane
rotations of the view (the demo's embedding network; `EmbeddingNet` is the paper's).

The camera looks along the sphere grid's pole axis (+z, DESIGN.md §3): an object turned about z by alpha gives the
view turned counterclockwise by alpha about its centre and the sphere map / target rolled by alpha in longitude.
The network is built so that this holds for it exactly:

  lift:     `ImageToSphere` resamples the view onto a 2B_l x 2B_l sphere grid: grid point (theta, phi) reads the
            image at radius (H/2) min(theta, pi - theta) / (pi/2) from its centre and angle phi counterclockwise
            from the image's +x (right) axis, y up (an equidistant polar map of the view, the same on both
            hemispheres), plus a channel cos(theta). A view turned by 2 pi k / (2B_l) is the lifted map rolled by k.
  encoder:  a residual CNN on the sphere grid with circular padding in longitude, downsampling by 2 per stage
            from 2B_l to the target's 2b (channels base_filters doubling to at most max_filters): the visible
            geometry lands where the target has it.
  context:  from 2b x 2b, strides (2, 1) halve colatitude down to one ring of 2b longitudes (longitude kept),
            residual blocks along the ring (kernel 1 x 3) and a global, rotation-invariant vector (mean over the
            ring, dense): the shape and its unseen back side.
  decoder:  the ring tiled over the 2b colatitudes, concatenated with the 2b x 2b encoder features and cos(theta),
            two residual blocks, a linear 1x1 conv to the target channels.

Every stride in longitude is 2 and there are log2(2B_l / 2b) of them, so the whole network commutes exactly with
rolls by multiples of 2B_l / 2b lifted samples: E(view turned by 2 pi k / (2b)) = roll(E(view), k) (for k 2b / 4
exactly, the image turn being a pixel permutation; other turns up to the image's resampling). The other rotations
are learned. Shapes: images float32 [batch, H, H, c] in [0, 1] -> embeddings [batch, 2b, 2b, C].

Properties (tests/test_lifted_net.py): the lift of rot90(image) is the lift rolled by 2B_l / 4; the network
commutes with quarter turns exactly; shapes; serialization.
"""

import math

import keras

from sphembed.models.layers.image import BN_MOMENTUM, PaddedConv2D, ResidualBlock
from sphembed.models.layers.lift import CosTheta, ImageToSphere

__all__ = ["LiftedEmbeddingNet"]


def _lifted_model(image_size, image_channels, target_bandwidth, target_channels, lift_bandwidth, base_filters,
                  max_filters, context_filters, ring_blocks, stem_stride):
    """The functional model of `LiftedEmbeddingNet` (module docstring)."""
    n_out, n_lift = 2 * target_bandwidth, 2 * lift_bandwidth
    if stem_stride not in (1, 2):
        raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride!r}")
    stages = int(round(math.log2(n_lift / stem_stride / n_out)))
    if 2 ** stages * n_out * stem_stride != n_lift or stages < 0:
        raise ValueError(f"lift_bandwidth / target_bandwidth must be a power of 2, got {lift_bandwidth} / "
                         f"{target_bandwidth}")
    if n_out & (n_out - 1):
        raise ValueError(f"2 * target_bandwidth must be a power of 2, got {n_out}")
    images = keras.Input((image_size, image_size, image_channels), name="image")
    x = ImageToSphere(lift_bandwidth, name="lift")(images)
    x = PaddedConv2D(base_filters, 3 + 2 * (stem_stride - 1), stem_stride, circular=True, use_bias=False,
                     name="stem")(x)
    x = ResidualBlock(base_filters, circular=True, name="stem_block")(x)
    for stage in range(stages):
        filters = min(base_filters * 2 ** (stage + 1), max_filters)
        x = ResidualBlock(filters, strides=2, circular=True, name=f"stage{stage}_block0")(x)
        x = ResidualBlock(filters, circular=True, name=f"stage{stage}_block1")(x)
    features = x  # [batch, 2b, 2b, F]
    ring, level = features, 0
    while ring.shape[1] > 1:
        ring = ResidualBlock(context_filters, strides=(2, 1), circular=True, name=f"context{level}")(ring)
        level += 1
    for i in range(ring_blocks):
        ring = ResidualBlock(context_filters, circular=True, kernel_size=(1, 3), name=f"ring{i}")(ring)
    ring = keras.layers.ReLU(name="ring_relu")(keras.layers.BatchNormalization(momentum=BN_MOMENTUM,
                                                                                 name="ring_bn")(ring))
    shape = keras.layers.Dense(context_filters, activation="relu", name="shape")(
        keras.ops.mean(ring, axis=2, keepdims=True))  # [batch, 1, 1, F]: invariant to rolls
    ring = keras.layers.Concatenate(name="ring_and_shape")([ring, keras.ops.tile(shape, [1, 1, n_out, 1])])
    ring = keras.layers.Conv2D(features.shape[-1], 1, name="ring_mix")(ring)
    x = keras.layers.Concatenate(name="features_and_ring")([features, keras.ops.tile(ring, [1, n_out, 1, 1])])
    x = CosTheta(name="cos_theta")(x)
    x = ResidualBlock(features.shape[-1], circular=True, name="decoder_block0")(x)
    x = ResidualBlock(features.shape[-1], circular=True, name="decoder_block1")(x)
    x = keras.layers.ReLU(name="final_relu")(keras.layers.BatchNormalization(momentum=BN_MOMENTUM,
                                                                               name="final_bn")(x))
    embedding = keras.layers.Conv2D(target_channels, 1, name="output")(x)
    return keras.Model(images, embedding, name="lifted")


@keras.saving.register_keras_serializable(package="sphembed")
class LiftedEmbeddingNet(keras.Model):
    """Image -> spherical embedding through the polar lift: float32 [batch, H, H, c] -> [batch, 2b, 2b, C].

    Args:
      image_size: int H (images are square).
      image_channels: int c.
      target_bandwidth: int b of the target endpoint (2b x 2b maps, 2b a power of 2).
      target_channels: int C of the target endpoint.
      lift_bandwidth: int B_l of the lifted grid (B_l / b a power of 2; default 2B_l = H / 2).
      base_filters, max_filters: channels at the lifted resolution, doubling per stage up to max_filters.
      context_filters: channels of the context ring and the global shape vector.
      ring_blocks: residual blocks along the ring.
      stem_stride: 1 (3x3 stem conv) or 2 (5x5 stride-2 stem: the view is lifted at twice the resolution the
        CNN starts at, for thin parts).
    """

    def __init__(self, image_size, image_channels, target_bandwidth, target_channels, lift_bandwidth=None,
                 base_filters=16, max_filters=64, context_filters=128, ring_blocks=2, stem_stride=1, **kwargs):
        kwargs.setdefault("name", "lifted_embedding_net")
        super().__init__(**kwargs)
        lift_bandwidth = int(lift_bandwidth or image_size // 4)
        self._config = dict(image_size=int(image_size), image_channels=int(image_channels),
                            target_bandwidth=int(target_bandwidth), target_channels=int(target_channels),
                            lift_bandwidth=lift_bandwidth, base_filters=int(base_filters),
                            max_filters=int(max_filters), context_filters=int(context_filters),
                            ring_blocks=int(ring_blocks), stem_stride=int(stem_stride))
        self.network = _lifted_model(**self._config)
        self.built = True

    @property
    def input_shape(self):
        """(None, H, H, c)."""
        return self.network.input_shape

    @property
    def output_shape(self):
        """(None, 2b, 2b, C)."""
        return self.network.output_shape

    def call(self, images, training=None):
        return self.network(images, training=training)

    def get_config(self):
        return {**super().get_config(), **self._config}
