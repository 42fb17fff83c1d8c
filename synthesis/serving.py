"""The novel-view SavedModel: (image, rotation) -> image (DESIGN.md §5).

`export_synthesis_module(embedding_model, synthesizer, path)` writes a TF2 reusable SavedModel with
  * `__call__(inputs, training=False)`: inputs = (image float32 [batch, H, W, c] in [0, 1] at the trained size,
    rotation) -> image;
  * `serving_default(image, rotation)`: image float32 [batch, any H, any W, 1 or 3] in [0, 1], rotation float32
    [batch, 3, 3] (the object's rotation in the world frame, R = Rz(alpha) Ry(beta) Rz(gamma)) ->
    {"image": [batch, H', W', c']}, and `serving_uint8(image, rotation)` with uint8 0-255 images; images are
    converted in the graph (`sphembed.hub_export.image_inputs`), and rotations that are not rotation matrices
    (R R^T = I, det R = +1, within 1e-3) or whose batch differs from the images' raise InvalidArgumentError;
  * `embed(image)` (float32) and `embed_uint8(image)` (uint8) -> {"embedding": [batch, 2b, 2b, C]};
  * `variables`, `trainable_variables` (of both networks), `regularization_losses` (empty).
It loads with `tf.saved_model.load` / `tensorflow_hub.load`; the output equals `synthesize_views` (tested).
"""

import tensorflow as tf

from sphembed.hub_export.image_inputs import image_signatures
from sphembed.synthesis.novel_view import synthesize_views
from sphembed.synthesis.train import load_synthesis_run

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
        image_spec = tf.TensorSpec([None, *image_shape], tf.float32)
        rotation_spec = tf.TensorSpec([None, 3, 3], tf.float32)
        view = lambda image, rotation: {"image": self._checked_view(image, rotation)}  # noqa: E731
        self.serving_signatures = {
            **image_signatures("serving_default", view, image_shape, ("image",), {"rotation": rotation_spec}),
            **image_signatures("embed", lambda image: {"embedding": embedding_model(image, training=False)},
                               image_shape, ("image",))}
        self.__call__ = tf.function(lambda inputs, training=False: self._view(*inputs),
                                    input_signature=[(image_spec, rotation_spec), tf.TensorSpec([], tf.bool)])

    def _view(self, image, rotation):
        return synthesize_views(image, rotation, self.embedding_model, self.synthesizer)

    def _checked_view(self, image, rotation):
        """_view after checking that `rotation` holds one rotation matrix per image."""
        error = tf.reduce_max(tf.abs(tf.matmul(rotation, rotation, transpose_b=True) - tf.eye(3)))
        checks = [
            tf.debugging.Assert(tf.equal(tf.shape(rotation)[0], tf.shape(image)[0]), [tf.strings.format(
                "rotation: must hold one [3, 3] matrix per image; got {} rotations for {} images",
                (tf.shape(rotation)[0], tf.shape(image)[0]))]),
            tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(rotation)) & (error <= 1e-3) & tf.reduce_all(
                tf.linalg.det(rotation) > 0), [tf.strings.format(
                    "rotation: must be rotation matrices (R R^T = I and det R = +1, within 1e-3); got max |R R^T - I| "
                    "= {}", error)])]
        with tf.control_dependencies(checks):
            return self._view(image, tf.identity(rotation))


def export_synthesis_module(embedding_model, synthesizer, path, image_shape=None):
    """Writes the novel-view SavedModel to `path` (a directory); returns path. Arguments as in `NovelViewModule`."""
    module = NovelViewModule(embedding_model, synthesizer, image_shape)
    tf.saved_model.save(module, path, signatures=dict(module.serving_signatures))
    return path


def export_synthesis_from_checkpoint(checkpoint, path, endpoints=None):
    """Exports a train-synthesis run (its directory or synthesizer.keras; the EmbeddingNet named in its
    run_info.json) as the novel-view SavedModel. `endpoints` must be None (the module has one output)."""
    if endpoints:
        raise ValueError(f"the synthesis module has the single output 'image', got endpoints {list(endpoints)}")
    embedding_model, synthesizer, _ = load_synthesis_run(checkpoint)
    return export_synthesis_module(embedding_model, synthesizer, path)
