"""TF-Hub reusable SavedModels: export (export_sphcnn, export_reusable) and frozen loading (load_targets_layer).

Public names are imported lazily from their modules so that `sphembed --help` does not import TensorFlow:

  reusable: export_reusable, load_module, module_specs
  sphcnn:   export_sphcnn, export_from_checkpoint
  targets:  HubTargets, load_targets_layer, list_endpoints
  image_inputs: serving_images, image_signatures, export_image_module (images of any size / dtype, converted in
            the graph)
"""

from sphembed.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "reusable": ("export_reusable", "load_module", "module_specs"),
    "sphcnn": ("export_sphcnn", "export_from_checkpoint"),
    "targets": ("HubTargets", "load_targets_layer", "list_endpoints"),
    "image_inputs": ("serving_images", "image_signatures", "export_image_module"),
})
