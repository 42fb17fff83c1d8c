"""Novel-view synthesis from spherical embeddings: rotate the embedding exactly, decode it (paper §3.2.4).

Public names are imported lazily from their modules (so `sphembed --help` and the numpy-only helpers stay light):

  rotate:     rotate_embedding, turntable_rotations, tumble_rotations
  novel_view: synthesize_views, novel_views
  visualize:  image_grid, save_png, save_gif, to_uint8
  serving:    export_synthesis_module, NovelViewModule
  train:      train_synthesis, load_synthesis_run
  evaluate:   evaluate_synthesis, write_report, image_metrics
"""

from sphembed.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "rotate": ("rotate_embedding", "turntable_rotations", "tumble_rotations"),
    "novel_view": ("synthesize_views", "novel_views"),
    "visualize": ("image_grid", "save_png", "save_gif", "to_uint8"),
    "serving": ("export_synthesis_module", "NovelViewModule"),
    "train": ("train_synthesis", "load_synthesis_run"),
    "evaluate": ("evaluate_synthesis", "write_report", "image_metrics"),
})
