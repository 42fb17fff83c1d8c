"""The spherical-CNN target module: a SphericalCNN exported as a TF-Hub reusable SavedModel.

Contract (checked in tests/test_hub_export.py):
  * `__call__(inputs, training=False)`: inputs float32 [batch, 2B, 2B, Cin] (sphere maps, channels as make-data:
    hit radius, |cos| normal) -> dict {"block1": [batch, 2b1, 2b1, C1], "block2": ..., ...}, the bottleneck
    features of every residual block (sphembed.models.nets.sphcnn endpoints; b halves at each pooling stage);
  * `variables`, `trainable_variables`, `regularization_losses`; signatures "serving_default" (the endpoint dict)
    and "classify" ({"logits": [batch, K], "probabilities": [batch, K]});
  * hub.load(path)(x) equals the Keras model's endpoints on x (up to float32 graph-vs-eager round-off).
"""

import keras
import tensorflow as tf

from sphembed.hub_export.reusable import export_reusable
from sphembed.models.nets.sphcnn import endpoint_model

__all__ = ["export_sphcnn", "export_from_checkpoint"]


def export_sphcnn(model, path, endpoints=None):
    """Exports a SphericalCNN's endpoints as a reusable SavedModel at `path`.

    Args:
      model: a SphericalCNN keras.Model ([batch, 2B, 2B, Cin] -> logits).
      path: output directory.
      endpoints: optional subset of endpoint names (default all).

    Returns:
      path.

    Raises:
      ValueError: if an endpoint name is unknown (lists the available ones).
    """
    net = endpoint_model(model, endpoints)
    spec = tf.TensorSpec([None] + list(model.input.shape[1:]), tf.float32)

    def classify(inputs):
        logits = model(inputs, training=False)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    return export_reusable(path, net, spec, signatures={"classify": classify}, variables_of=model)


def export_from_checkpoint(checkpoint, path, endpoints=None):
    """Loads a SphericalCNN .keras checkpoint (train-sphcnn's best.keras/last.keras) and exports it."""
    return export_sphcnn(keras.saving.load_model(checkpoint), path, endpoints)
