"""Novel views from one image: embed, rotate the embedding exactly (Wigner-D), decode (paper §3.2.4).

  view(I, R) = G(Lambda_R E(I))  ~  the image of the object of I rotated by R in the world frame
  (fixed camera on +z looking at the origin, y up; R = Rz(alpha) Ry(beta) Rz(gamma), active).

E maps images [batch, H, W, c] to embeddings [batch, 2b, 2b, C] (`EmbeddingNet`), G maps embeddings back to images
(`Synthesizer`). Both may be Keras models or SavedModels with `__call__(inputs, training=False)`.
Property (tests/test_synthesis.py): synthesize_views(I, I_3x3) = G(E(I)), and views under rotations about z by
2 pi k / (2b) equal G applied to longitude-rolled embeddings.
"""

import tensorflow as tf

from sphembed.synthesis.rotate import rotate_embedding

__all__ = ["synthesize_views", "novel_views"]


def _check_images(images):
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4:
        raise ValueError(f"images must have shape [batch, H, W, c], got {images.shape}")
    return images


def synthesize_views(images, R, embedding_model, synthesizer, L=None):
    """One novel view per image: G(Lambda_{R_i} E(I_i)).

    Args:
      images: float32 [batch, H, W, c] in [0, 1].
      R: float32 [batch, 3, 3] or [3, 3], rotations of the object (world frame).
      embedding_model: E, images -> float32 [batch, 2b, 2b, C].
      synthesizer: G, float32 [batch, 2b, 2b, C] -> images [batch, H', W', c'].
      L: degree band-limit of the rotation (default b).

    Returns:
      float32 [batch, H', W', c'].

    Raises:
      ValueError: if images is not [batch, H, W, c] or R is not [..., 3, 3].
    """
    with tf.name_scope("synthesize_views"):
        images = _check_images(images)
        e = embedding_model(images, training=False)
        return synthesizer(rotate_embedding(e, tf.convert_to_tensor(R, tf.float32), L), training=False)


def novel_views(images, rotations, embedding_model, synthesizer, L=None):
    """Every image under every rotation: [batch, n, H', W', c'], entry (i, k) = G(Lambda_{R_k} E(I_i)).

    Args:
      images: float32 [batch, H, W, c] in [0, 1].
      rotations: float32 [n, 3, 3].
      embedding_model, synthesizer, L: as in `synthesize_views`.

    Returns:
      float32 [batch, n, H', W', c'].
    """
    with tf.name_scope("novel_views"):
        images = _check_images(images)
        rotations = tf.convert_to_tensor(rotations, tf.float32)
        if rotations.shape.rank != 3 or tuple(rotations.shape[1:]) != (3, 3):
            raise ValueError(f"rotations must have shape [n, 3, 3], got {rotations.shape}")
        batch, n = tf.shape(images)[0], tf.shape(rotations)[0]
        e = embedding_model(images, training=False)
        e = tf.repeat(e, n, axis=0)  # [batch * n, 2b, 2b, C], image-major
        R = tf.tile(rotations, [batch, 1, 1])
        out = synthesizer(rotate_embedding(e, R, L), training=False)
        return tf.reshape(out, tf.concat([[batch, n], tf.shape(out)[1:]], 0))
