"""Frozen target generation from an exported module: a Keras 3 layer around tensorflow_hub.load.

`load_targets_layer(path, endpoint)` returns a `HubTargets` layer: sphere maps [batch, 2B, 2B, Cin] -> the
module's endpoint [batch, 2b, 2b, C], no trainable weights and no gradient (targets are fixed), always in
inference mode. `list_endpoints(path)` gives {name: [None, 2b, 2b, C]} and the input shape.
"""

import keras

from sphembed.hub_export.reusable import load_module, module_specs
from sphembed.models.train.targets import frozen_endpoint

__all__ = ["HubTargets", "load_targets_layer", "list_endpoints"]


def list_endpoints(path):
    """Endpoint names and shapes of an exported module.

    Returns:
      (input_shape, endpoints): list [None, 2B, 2B, Cin] and dict {name: [None, 2b, 2b, C]}.

    Raises:
      ValueError: if `path` is not a reusable module.
    """
    spec, outputs = module_specs(load_module(path))
    return spec.shape.as_list(), {name: s.shape.as_list() for name, s in outputs.items()}


@keras.saving.register_keras_serializable(package="sphembed")
class HubTargets(keras.layers.Layer):
    """One endpoint of a reusable SavedModel as a frozen Keras 3 layer.

    Args:
      handle: path (or TF-Hub handle) of a module written by `sphembed export-hub`.
      endpoint: output name (see list_endpoints).

    Input: float32 [batch, *module input shape]. Output: float32 [batch, 2b, 2b, C] (the endpoint).

    Raises:
      ValueError: unknown endpoint (lists the available ones); inputs whose shape differs from the module's.
    """

    def __init__(self, handle, endpoint, **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self.handle, self.endpoint = str(handle), str(endpoint)
        self._state = {"module": load_module(self.handle)}  # a dict: Keras does not track the hub object
        spec, outputs = module_specs(self._state["module"])
        if self.endpoint not in outputs:
            raise ValueError(f"module {self.handle!r} has no endpoint {self.endpoint!r}; it has {sorted(outputs)}")
        self.module_input_shape = spec.shape.as_list()
        self.output_spec = outputs[self.endpoint]
        self._state["targets"] = frozen_endpoint(self._state["module"], self.endpoint)

    def build(self, input_shape):
        got = list(input_shape)[1:]
        if got != self.module_input_shape[1:]:
            raise ValueError(f"module {self.handle!r} expects inputs of shape {self.module_input_shape}, got "
                             f"inputs shape {list(input_shape)}")

    def call(self, inputs):
        return self._state["targets"](inputs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(self.output_spec.shape[1:])

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        return {**config, "handle": self.handle, "endpoint": self.endpoint}


def load_targets_layer(path, endpoint):
    """A frozen HubTargets layer computing `endpoint` of the module at `path` (see HubTargets)."""
    return HubTargets(path, endpoint, name=f"targets_{endpoint}")
