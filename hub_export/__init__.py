"""TF-Hub reusable SavedModels: export of the trained networks, and frozen loading of the target module.

  reusable.py      export_reusable, load_module, module_specs: Keras 3 models as TF2 reusable SavedModels and back
  sphcnn.py        export_sphcnn, export_from_checkpoint: the spherical-CNN target module (its endpoints)
  targets.py       HubTargets, load_targets_layer, list_endpoints: a frozen Keras layer around an exported module
  image_inputs.py  serving_images, image_signatures, export_image_module: serving signatures that take images of any
                   size, float32 in [0, 1] or uint8, converted in the graph to the trained images
  cli.py           registers `sphembed export-hub`

Conventions (DESIGN.md §5): a module has `__call__(inputs, training=False)`, `variables`, `trainable_variables`,
`regularization_losses` and loads with `tensorflow_hub.load` in a process that never imported sphembed. Public
names are imported lazily from their modules so that `sphembed --help` does not import TensorFlow.
"""

from sphembed.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "reusable": ("export_reusable", "load_module", "module_specs"),
    "sphcnn": ("export_sphcnn", "export_from_checkpoint"),
    "targets": ("HubTargets", "load_targets_layer", "list_endpoints"),
    "image_inputs": ("serving_images", "image_signatures", "export_image_module"),
})
