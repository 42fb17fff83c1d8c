"""The pose SavedModel: two image batches in, relative rotations out (DESIGN.md §5).

`export_pose_module(embedding_model, path, out_bandwidth)` writes a TF2 reusable SavedModel with
  * `__call__(inputs, training=False)`: inputs = (image_a, image_b), float32 [batch, H, W, c] in [0, 1] at the
    trained size -> dict as below;
  * `serving_default(image_a, image_b)`: float32 [batch, any H, any W, 1 or 3] each, values in [0, 1], and
    `serving_uint8(image_a, image_b)`: the same as uint8 0-255, converted in the graph to the trained images
    (`sphembed.hub_export.image_inputs`: / 255, RGB <-> gray, resized keeping the aspect ratio; out-of-range or
    non-finite values raise InvalidArgumentError naming the input) -> {"rotation": [batch, 3, 3] = R_ab,
    "euler_zyz": [batch, 3] (alpha, beta, gamma with R_ab = Rz(alpha) Ry(beta) Rz(gamma)), "score": [batch]
    (the correlation C(R_ab) of the two embeddings)};
  * `variables`, `trainable_variables` (the embedding model's), `regularization_losses` (empty).
R_ab = R_b R_a^T is the rotation taking the object as seen in image a to image b (`relative_pose`).
"""

import tensorflow as tf

from sphembed.hub_export.image_inputs import image_signatures
from sphembed.models.sphere.rotations import matrix_to_euler
from sphembed.pose.relative import load_model, relative_pose
from sphembed.presets import get_preset

__all__ = ["PoseModule", "export_pose_module", "export_pose_from_checkpoint", "OUTPUTS"]

OUTPUTS = ("rotation", "euler_zyz", "score")


def _image_shape(model):
    """(H, W, c) from a functional model's input shape, an `EmbeddingNet` config (image_size, image_channels), or
    the `__call__` input signature of a loaded reusable module (`export-hub --model embedding`)."""
    try:
        shape = tuple(model.input_shape)
    except (AttributeError, ValueError):
        cfg = model.get_config() if hasattr(model, "get_config") else {}
        shape = (None, cfg.get("image_size"), cfg.get("image_size"), cfg.get("image_channels"))
        for fn in getattr(getattr(model, "__call__", None), "concrete_functions", ()):
            shape = tuple(fn.structured_input_signature[0][0].shape)
    if len(shape) != 4 or None in shape[1:]:
        raise ValueError(f"image_shape (H, W, c) is needed: the model's input shape is {shape}")
    return shape[1:]


class PoseModule(tf.__internal__.tracking.AutoTrackable):
    """Trackable wrapper of an embedding model computing relative poses (see module docstring).

    Args:
      embedding_model: Keras model or loaded SavedModel, images [batch, H, W, c] -> [batch, 2b, 2b, C].
      image_shape: (H, W, c); default from `embedding_model.input_shape` or its config (image_size, image_channels).
      out_bandwidth: int B' of the SO(3) search grid (default b).
      refine: bool, Newton refinement beyond the grid.
      endpoint: output key if the model returns a dict.
      outputs: the subset of OUTPUTS the module returns.
    """

    def __init__(self, embedding_model, image_shape=None, out_bandwidth=None, refine=True, endpoint=None,
                 outputs=OUTPUTS):
        super().__init__()
        unknown = sorted(set(outputs) - set(OUTPUTS))
        if unknown or not outputs:
            raise ValueError(f"outputs must be a non-empty subset of {OUTPUTS}, got {list(outputs)}")
        self._outputs = tuple(outputs)
        image_shape = _image_shape(embedding_model) if image_shape is None else image_shape
        if len(tuple(image_shape)) != 3:
            raise ValueError(f"image_shape must be (H, W, c), got {image_shape}")
        self.embedding_model = embedding_model
        self.variables = [getattr(v, "value", v) for v in embedding_model.variables]  # Keras 3 wraps tf.Variable
        self.trainable_variables = [getattr(v, "value", v) for v in embedding_model.trainable_variables]
        self.regularization_losses = []
        self._options = dict(out_bandwidth=out_bandwidth, refine=refine, endpoint=endpoint)
        spec = tf.TensorSpec([None, *image_shape], tf.float32)
        # autograph=False: the pose graph has no data-dependent Python control flow, and conversion is slow.
        self.serving_signatures = image_signatures("serving_default", self._pose, image_shape, ("image_a", "image_b"))
        self.__call__ = tf.function(lambda inputs, training=False: self._pose(*inputs),
                                    input_signature=[(spec, spec), tf.TensorSpec([], tf.bool)], autograph=False)

    def _pose(self, image_a, image_b):
        rotation, score = relative_pose(image_a, image_b, self.embedding_model, self._options["out_bandwidth"],
                                        self._options["refine"], endpoint=self._options["endpoint"],
                                        return_scores=True)
        out = {"rotation": rotation, "euler_zyz": tf.stack(matrix_to_euler(rotation), axis=-1), "score": score}
        return {key: out[key] for key in self._outputs}


def export_pose_module(embedding_model, path, out_bandwidth=None, image_shape=None, refine=True, endpoint=None,
                       outputs=OUTPUTS):
    """Writes the pose SavedModel to `path` (a directory); returns path. Arguments as in `PoseModule`."""
    module = PoseModule(embedding_model, image_shape, out_bandwidth, refine, endpoint, outputs)
    tf.saved_model.save(module, path, signatures=dict(module.serving_signatures))
    return path


def export_pose_from_checkpoint(checkpoint, path, endpoints=None, out_bandwidth=None, preset="demo"):
    """`sphembed export-hub --model pose`: the pose module of a trained embedding model.

    Args:
      checkpoint: embedding model, a `.keras` file (train-embedding's best.keras) or a SavedModel / Hub directory.
      path: output directory.
      endpoints: optional subset of OUTPUTS to serve (default all).
      out_bandwidth: B' of the SO(3) search grid (default: the `pose` section of `preset`).
      preset: preset whose pose section gives the default B' ("demo": 32, "paper": 64).

    Returns:
      path.
    """
    out_bandwidth = out_bandwidth or get_preset(preset, "pose")["out_bandwidth"]
    return export_pose_module(load_model(checkpoint), path, out_bandwidth, outputs=tuple(endpoints or OUTPUTS))
