"""Cross-domain encoder-decoders: `EmbeddingNet` (image -> sphere map, the paper's E) and `Synthesizer` (sphere map ->
image, the paper's G): one backbone (`sphembed.models.nets.backbone`) with the roles swapped.

Output shapes (checked in tests/models/nets/test_encoder_decoder.py): EmbeddingNet [batch, H, H, c] ->
[batch, 2b, 2b, C]; Synthesizer [batch, 2B, 2B, C] -> [batch, H, H, c].
"""

import keras

from sphembed.models.nets.backbone import EncoderDecoder, image_decoder, image_encoder, sphere_decoder, sphere_encoder

__all__ = ["EmbeddingNet", "Synthesizer"]


@keras.saving.register_keras_serializable(package="sphembed")
class EmbeddingNet(EncoderDecoder):
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
class Synthesizer(EncoderDecoder):
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
