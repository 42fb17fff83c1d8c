"""The novel-view SavedModel: (image, rotation) -> image (DESIGN.md §5).

`export_synthesis_module(embedding_model, synthesizer, path)` writes a TF2 reusable SavedModel with
  * `__call__(inputs, training=False)`: inputs = (image, rotation) -> image;
  * `serving_default(image, rotation)`: image float32 [batch, H, W, c] in [0, 1], rotation float32 [batch, 3, 3]
    (the object's rotation in the world frame, R = Rz(alpha) Ry(beta) Rz(gamma)) -> {"image": [batch, H', W', c']};
  * `embed(image)` -> {"embedding": [batch, 2b, 2b, C]};
  * `variables`, `trainable_variables` (of both networks), `regularization_losses` (empty).
It loads with `tf.saved_model.load` / `tensorflow_hub.load`; the output equals `synthesize_views` (tested).
"""

import tensorflow as tf

from sphembed.synthesis.novel_view import synthesize_views

__all__ = ["NovelViewModule", "export_synthesis_module", "export_synthesis_from_checkpoint"]


class NovelViewModule(tf.__internal__.tracking.AutoTrackable):
    """Trackable wrapper of E and G computing G(Lambda_R E(I)) (see module docstring).

    Args:
      embedding_model: Keras model, images [batch, H, W, c] -> [batch, 2b, 2b, C].
      synthesizer: Keras model, [batch, 2b, 2b, C] -> images.
      image_shape: (H, W, c); default from `embedding_model.input_shape`.
    """

    def __init__(self, embedding_model, synthesizer, image_shape=None):
        super().__init__()
        if image_shape is None:
            image_shape = tuple(getattr(embedding_model, "input_shape", (None,))[1:])
        if len(image_shape) != 3 or None in image_shape:
            raise ValueError(f"image_shape must be (H, W, c), got {image_shape}")
        self.embedding_model, self.synthesizer = embedding_model, synthesizer
        self.variables = list(embedding_model.variables) + list(synthesizer.variables)
        self.trainable_variables = list(embedding_model.trainable_variables) + list(synthesizer.trainable_variables)
        self.regularization_losses = []
        image = tf.TensorSpec([None, *image_shape], tf.float32)
        rotation = tf.TensorSpec([None, 3, 3], tf.float32)
        self.serving_default = tf.function(lambda image, rotation: {"image": self._view(image, rotation)},
                                           input_signature=[image, rotation])
        self.embed = tf.function(lambda image: {"embedding": embedding_model(image, training=False)},
                                 input_signature=[image])
        self.__call__ = tf.function(lambda inputs, training=False: self._view(*inputs),
                                    input_signature=[(image, rotation), tf.TensorSpec([], tf.bool)])

    def _view(self, image, rotation):
        return synthesize_views(image, rotation, self.embedding_model, self.synthesizer)


def export_synthesis_module(embedding_model, synthesizer, path, image_shape=None):
    """Writes the novel-view SavedModel to `path` (a directory); returns path. Arguments as in `NovelViewModule`."""
    module = NovelViewModule(embedding_model, synthesizer, image_shape)
    tf.saved_model.save(module, path, signatures={"serving_default": module.serving_default, "embed": module.embed})
    return path


def export_synthesis_from_checkpoint(checkpoint, path, endpoints=None):
    """Exports a train-synthesis run (its directory or synthesizer.keras; the EmbeddingNet named in its
    synthesis_info.json) as the novel-view SavedModel. `endpoints` must be None (the module has one output)."""
    from sphembed.synthesis.train import load_synthesis_run

    if endpoints:
        raise ValueError(f"the synthesis module has the single output 'image', got endpoints {list(endpoints)}")
    embedding_model, synthesizer, _ = load_synthesis_run(checkpoint)
    return export_synthesis_module(embedding_model, synthesizer, path)
