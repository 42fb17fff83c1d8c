"""The networks, each a Keras model built from `sphembed.models.layers`:

  sphcnn.py           SphericalCNN, the classifier whose endpoints are the embedding targets
  backbone.py         the residual encoder-decoder backbone (image / sphere encoders and decoders, EncoderDecoder)
  encoder_decoder.py  EmbeddingNet (image -> sphere map) and Synthesizer (sphere map -> image) on that backbone
  lifted.py           LiftedEmbeddingNet: the view lifted onto the sphere grid, exactly in-plane equivariant
"""
