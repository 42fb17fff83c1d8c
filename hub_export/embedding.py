"""The embedding module: a trained EmbeddingNet / LiftedEmbeddingNet as a reusable SavedModel
(`sphembed export-hub --model embedding`).

The module maps images to {"embedding": float32 [batch, 2b, 2b, C]}: `__call__(inputs, training=False)` takes
float32 [batch, H, W, c] in [0, 1] at the trained size; `serving_default(inputs)` float32 and `serving_uint8(inputs)`
uint8 images of any size, 1 or 3 channels (`sphembed.hub_export.image_inputs.export_image_module`).
"""

from sphembed.hub_export.image_inputs import export_image_module
from sphembed.models.train.run_dir import load_run

__all__ = ["export_embedding_from_checkpoint"]


def export_embedding_from_checkpoint(checkpoint, path, endpoints=None):
    """Exports a trained embedding network (a train-embedding run directory or a .keras file) to `path`.

    Raises:
      ValueError: if `endpoints` names anything but "embedding", or checkpoint is not an embedding model.
    """
    if endpoints and list(endpoints) != ["embedding"]:
        raise ValueError(f"the embedding module has the single output 'embedding', got endpoints {list(endpoints)}")
    return export_image_module(path, load_run(checkpoint, stage="embedding"), "embedding")
