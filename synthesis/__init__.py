"""Novel-view synthesis from spherical embeddings: rotate the embedding exactly, decode it (paper §3.2.4).

  rotate.py      rotate_embedding (Lambda_R of an embedding), turntable_rotations, tumble_rotations (animation paths)
  novel_view.py  G(Lambda_R E(I)): synthesize_views (one rotation per image), novel_views (every image under
                 every rotation)
  visualize.py   image_grid, save_png, save_gif, to_uint8 (numpy + pillow)
  serving.py     export_synthesis_module, NovelViewModule: the novel-view SavedModel, (image, rotation) -> image
  train.py       train_synthesis, load_synthesis_run: training the Synthesizer G and loading its run directory
  evaluate.py    evaluate_synthesis, write_report, image_metrics: PSNR, SSIM, silhouette IoU on held-out meshes
  cli.py         registers `sphembed train-synthesis`, `synthesize`, `eval-synthesis`

Conventions: a view rotated by R is G(Lambda_R E(I)) with R = R_b R_a^T taking view a to view b (DESIGN.md §3);
images float32 [batch, H, W, c] in [0, 1]. Public names are imported lazily from their modules (so
`sphembed --help` and the numpy-only helpers stay light).
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
