"""Training-time augmentation: in-plane rotations of (view, target) pairs for the embedding network, and random
anisotropic scaling of sphere maps for the spherical CNN. Both draw statelessly from seeds, so a resumed run sees the
draws an uninterrupted one would have.

In-plane rotations (`rotate_in_plane`, train-embedding --rotate-augment): the camera looks along the sphere grid's
pole axis z, so rotating the mesh by alpha = k 360 / (2b) degrees about z (k = 0..2b-1, uniform per example) rotates
the image by alpha about its center (counterclockwise, `np.rot90` for 90 degrees) and rolls the target by k
longitude samples, exactly for the targets (the spherical CNN commutes with longitude rolls). The image is resampled
bilinearly; its shading is exact too for quarter turns, since the gray renders are lit by a headlight along the
camera axis.

Anisotropic scaling (`random_anisotropic_scaling`, train-sphcnn's anisotropic_scaling): maps of the mesh after a
random linear map S = Q diag(s) Q^T (`anisotropic_scale_maps`).
"""

import numpy as np
import tensorflow as tf

from sphembed.models.sphere.grids import sphere_points
from sphembed.models.sphere.rotations import bilinear_sample
from sphembed.models.sphere.shapes import bandwidth_of

__all__ = ["rotate_in_plane", "random_in_plane_rotations", "anisotropic_scale_maps", "random_anisotropic_scaling"]


def rotate_in_plane(images, targets, k):
    """Rotates a batch of views about the camera axis by alpha = k 2 pi / (2b) (see the module docstring).

    Args:
      images: float [batch, H, H, c], the camera axis through the image center.
      targets: float [batch, 2b, 2b, C] sphere maps (pole axis = camera axis).
      k: int32 [batch], longitude steps.

    Returns:
      (images rotated counterclockwise by alpha with bilinear resampling and zero fill, targets rolled by k along phi).
    """
    n, H = targets.shape[2], images.shape[1]
    alpha = tf.cast(k, tf.float32) * (2 * np.pi / n)
    cos, sin, c = tf.cos(alpha), tf.sin(alpha), (H - 1) / 2.0
    # Output pixel (x, y) (column, row) samples input (cos x - sin y, sin x + cos y) about the center c.
    transforms = tf.stack([cos, -sin, c - cos * c + sin * c, sin, cos, c - sin * c - cos * c,
                           tf.zeros_like(cos), tf.zeros_like(cos)], axis=1)
    rotated = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[H, images.shape[2]], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")
    phi = (tf.range(n)[None, :] - k[:, None]) % n
    return rotated, tf.gather(targets, phi, axis=2, batch_dims=1)


def random_in_plane_rotations(ds, seed):
    """(image, target) batches of `ds` turned by a random k per example (`rotate_in_plane`), reproducible for a
    seed: each batch draws statelessly from its own seed, taken from a seeded stream that changes every epoch, so
    the parallel map's thread order cannot change the draws."""

    def augment(batch, batch_seed):
        images, targets = batch
        k = tf.random.stateless_uniform(tf.shape(images)[:1], tf.stack([tf.constant(seed, tf.int64), batch_seed]),
                                        0, targets.shape[2], tf.int32)
        return rotate_in_plane(images, targets, k)

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip((ds, seeds)).map(augment, num_parallel_calls=tf.data.AUTOTUNE)


def anisotropic_scale_maps(sphere, S):
    """Sphere maps of a mesh after the linear map x -> S x, rescaled so that radii stay <= 1.

    For a surface that is star-shaped from the origin (radius rho(u) along direction u), the scaled surface has
    radius rho(u) / |S^-1 w| along w, with u = S^-1 w / |S^-1 w|; rho is sampled bilinearly at u. The result is
    divided by the largest singular value of S. Channel 0 (hit radius, 0 = no hit) follows this rule exactly up
    to interpolation; the other channels (|cos| of the normal) are resampled at u, an approximation.

    Args:
      sphere: float32 [batch, 2B, 2B, C]; channel 0 is the hit radius.
      S: float32 [batch, 3, 3], symmetric positive definite.

    Returns:
      float32 [batch, 2B, 2B, C].
    """
    with tf.name_scope("anisotropic_scale_maps"):
        sphere = tf.convert_to_tensor(sphere, tf.float32)
        B = bandwidth_of(sphere, "sphere")
        S = tf.convert_to_tensor(S, tf.float32)
        w = tf.constant(sphere_points(B), tf.float32)
        u = tf.einsum("bij,hwj->bhwi", tf.linalg.inv(S), w)  # S^-1 w
        norm = tf.norm(u, axis=-1, keepdims=True)
        sampled = bilinear_sample(sphere, u / norm)
        largest = tf.reduce_max(tf.linalg.svd(S, compute_uv=False), axis=-1)[:, None, None, None]
        radius = sampled[..., :1] / norm / largest
        return tf.concat([radius, sampled[..., 1:]], axis=-1)


def random_anisotropic_scaling(sphere, amount, seed):
    """Random anisotropic scaling augmentation: S = Q diag(s) Q^T, s ~ U[1 - amount, 1 + amount], Q random.

    Args:
      sphere: float32 [batch, 2B, 2B, C] (see anisotropic_scale_maps).
      amount: float in [0, 1).
      seed: int32 [2], stateless random seed (tf.random.stateless_*).

    Returns:
      float32 [batch, 2B, 2B, C].
    """
    batch = tf.shape(sphere)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    s = tf.random.stateless_uniform([batch, 3], seeds[0], 1.0 - amount, 1.0 + amount)
    Q, _ = tf.linalg.qr(tf.random.stateless_normal([batch, 3, 3], seeds[1]))  # any orthogonal Q gives SPD S
    S = tf.einsum("bij,bj,bkj->bik", Q, s, Q)
    return anisotropic_scale_maps(sphere, S)
