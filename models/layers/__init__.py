"""Keras layers: they hold weights and call the math of `sphembed.models.sphere`; tables are built in build().

  spherical.py  SphericalConv (zonal spectral filters), SphericalAveragePool, SphericalBatchNormalization,
                SphericalGlobalAverage: each commutes with rotations (exactly, or up to the pooling's aliasing)
  image.py      PaddedConv2D (zero or circular padding per axis), ResidualBlock (ResNet-v2 basic block)
  lift.py       ImageToSphere (a view resampled onto the sphere grid) and CosTheta (the colatitude channel)
"""
