"""TF2 reusable SavedModels (the TF-Hub format, DESIGN.md §5) from Keras 3 models, and loading them back.

A module written by `export_reusable` has:
  * `__call__(inputs, training=False)`: the Keras model's output (a dict of tensors), traced for training=False
    and training=True (batch norm uses batch statistics then; variables are not updated);
  * `variables`, `trainable_variables`: lists of tf.Variable (the Keras model's weights);
  * `regularization_losses`: list of argument-free tf.functions returning scalars (the model's weight
    regularizers), possibly empty;
  * signature "serving_default" (input key "inputs", outputs = the dict of `__call__(inputs, training=False)`;
    image modules serve images of any size and dtype uint8/float32 instead, `sphembed.hub_export.image_inputs`)
    plus any named extra signatures.
It loads with `tensorflow_hub.load(path)` (or tf.saved_model.load) in a process that never imported sphembed, and
`hub.KerasLayer(path, output_key=...)` consumes it in tf_keras models.
"""

import os

import tensorflow as tf

__all__ = ["export_reusable", "load_module", "module_specs", "import_hub"]


def import_hub():
    """tensorflow_hub, or an ImportError that says how to fix the environment."""
    try:
        import tensorflow_hub as hub
    except ModuleNotFoundError as err:  # tensorflow_hub 0.16 imports pkg_resources, gone from setuptools >= 81
        raise ImportError(f"tensorflow_hub failed to import ({err}); install it with setuptools<81 "
                          "(pip install 'setuptools<81' tensorflow-hub)") from err
    return hub


def _tf_variables(variables):
    return [getattr(v, "value", v) for v in variables]  # Keras 3 variables wrap a tf.Variable


def export_reusable(path, model, input_spec, signatures=None, variables_of=None, serving=None):
    """Writes `model` as a reusable SavedModel.

    Args:
      path: output directory (created; overwritten).
      model: keras.Model mapping a batch of `input_spec` to a dict {name: tensor}.
      input_spec: tf.TensorSpec of the inputs, batch dimension None (e.g. [None, 2B, 2B, C] float32).
      signatures: optional dict {name: callable(inputs) -> dict of tensors}, extra named signatures with the
        same input.
      variables_of: optional keras.Model whose weights are the module's variables (default `model`); pass the
        full network when `model` and the signatures are sub-graphs of it.
      serving: optional dict {name: tf.function with an input_signature} replacing the plain
        `serving_default(inputs)`, e.g. `sphembed.hub_export.image_inputs.image_signatures`; must hold
        "serving_default".

    Returns:
      path.

    Raises:
      ValueError: if the model output is not a dict, a signature is called "serving_default", or `serving` lacks
        "serving_default".
    """
    spec = tf.TensorSpec(input_spec.shape, input_spec.dtype, name="inputs")
    probe = model(tf.zeros([1] + list(spec.shape[1:]), spec.dtype), training=False)
    if not isinstance(probe, dict):
        raise ValueError(f"model {model.name!r} must return a dict of named outputs, got {type(probe).__name__}")
    signatures = dict(signatures or {})
    if "serving_default" in signatures:
        raise ValueError("'serving_default' is always the model itself; name extra signatures differently")
    if serving is not None and "serving_default" not in serving:
        raise ValueError(f"serving must hold a 'serving_default' signature, got {sorted(serving)}")

    @tf.function
    def call(inputs, training=False):
        return model(inputs, training=training)

    for training in (False, True):
        call.get_concrete_function(spec, training=training)

    owner = model if variables_of is None else variables_of

    @tf.function(input_signature=[])
    def regularization():
        return tf.add_n([tf.cast(loss, tf.float32) for loss in owner.losses])

    obj = tf.train.Checkpoint()
    obj.__call__ = call
    obj.variables = _tf_variables(owner.variables)
    obj.trainable_variables = _tf_variables(owner.trainable_variables)
    obj.regularization_losses = [regularization] if owner.losses else []
    if serving is None:
        serving = {"serving_default": tf.function(lambda inputs: call(inputs, training=False),
                                                  input_signature=[spec])}
    serving = {**serving, **{name: tf.function(fn, input_signature=[spec]) for name, fn in signatures.items()}}
    os.makedirs(path, exist_ok=True)
    tf.saved_model.save(obj, path, signatures=serving)
    return path


def load_module(handle):
    """tensorflow_hub.load(handle), with errors that name the handle.

    Raises:
      ValueError: if nothing loadable is at `handle`, or it has no "serving_default" signature returning a dict.
    """
    hub = import_hub()
    path = hub.resolve(handle)
    if not tf.saved_model.contains_saved_model(path):
        raise ValueError(f"no SavedModel at {handle!r} (expected saved_model.pb from `sphembed export-hub`)")
    module = hub.load(path)
    if "serving_default" not in getattr(module, "signatures", {}) or not callable(module):
        raise ValueError(f"SavedModel at {handle!r} is not a reusable module with a 'serving_default' signature "
                         "(write it with `sphembed export-hub`)")
    return module


def module_specs(module):
    """Input and output specs of a loaded module's serving_default signature.

    Returns:
      (input_spec, outputs): tf.TensorSpec of "inputs" ([None, ...]) and dict {name: tf.TensorSpec}.
    """
    fn = module.signatures["serving_default"]
    inputs = fn.structured_input_signature[1]
    if list(inputs) != ["inputs"]:
        raise ValueError(f"module signature must take one tensor 'inputs', got {sorted(inputs)}")
    return inputs["inputs"], dict(fn.structured_outputs)
