"""Relative pose of two images, and image-to-mesh alignment, through rotation-equivariant spherical embeddings.

An embedding model maps images `[batch, H, W, c]` to spherical maps `[batch, 2b, 2b, C]` with
E(I_b) ~ Lambda_{R_ab} E(I_a) for views of one object in poses R_a, R_b (a view renders vertices R v), where
R_ab = R_b R_a^T (DESIGN.md §3). Hence R_ab = align(E(I_b), E(I_a)). For a mesh M with spherical-CNN embedding
T = Phi(S(M)) and an image I of M in pose R, E(I) ~ Lambda_R T, so R = align(E(I), T).

A model is a Keras model, a loaded SavedModel / TF-Hub module, any callable of TensorFlow ops, or a path:
`load_model(path)` opens run directories, `.keras` checkpoints and SavedModel / Hub directories. Called eagerly,
`relative_pose` runs one tf.function per (model, image shapes, options), traced on the first call (a Keras model
called eagerly costs ~100 ms per call, traced a few ms); inside a caller's tf.function it adds its ops to the
caller's graph.
"""

import functools
import os
import weakref

import numpy as np
import tensorflow as tf

from sphembed.data.meshes import normalize_mesh
from sphembed.data.spheremap import sphere_map
from sphembed.models.train.run_dir import load_run
from sphembed.pose.alignment import align

__all__ = ["load_model", "call_model", "relative_pose", "align_image_to_mesh"]


def load_model(path):
    """A model from a path: a run directory of any sphembed trainer, a `.keras` / `.h5` file or a SavedModel / TF-Hub
    module directory (`sphembed.models.train.run_dir.load_run`).

    Raises:
      ValueError: if path is none of these.
    """
    return load_run(path)


def call_model(model, x, endpoint=None, name="model"):
    """model(x) in inference mode, reduced to one tensor.

    Args:
      model: Keras model, SavedModel with `__call__(inputs, training=False)`, callable, or a path for `load_model`.
      x: float32 input batch.
      endpoint: key to pick when the model returns a dict (required when the dict has more than one entry).
      name: the model's name in error messages.

    Returns:
      float32 tensor, the (selected) output.

    Raises:
      ValueError: if the model returns a dict with several entries and no valid endpoint is given.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    model = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    try:
        out = model(x, training=False)
    except TypeError:  # plain callables without a training argument
        out = model(x)
    if isinstance(out, dict):
        if endpoint is None and len(out) == 1:
            endpoint = next(iter(out))
        if endpoint not in out:
            raise ValueError(f"{name} returns endpoints {sorted(out)}; choose one with endpoint=, got {endpoint!r}")
        out = out[endpoint]
    return tf.cast(out, tf.float32)


def _check_images(x, name):
    x = tf.convert_to_tensor(x, tf.float32)
    if x.shape.rank != 4:
        raise ValueError(f"{name} must have shape [batch, H, W, c], got {x.shape}")
    return x


def _pose(model, image_a, image_b, endpoint, options):
    ea = call_model(model, image_a, endpoint, "embedding model")
    eb = call_model(model, image_b, endpoint, "embedding model")
    return align(eb, ea, **options)


# model -> {key: tf.function}; the functions hold the model weakly so that the cache does not keep it alive.
_POSE_FUNCTIONS = weakref.WeakKeyDictionary()


def _pose_function(model, image_a, image_b, endpoint, options):
    """The cached tf.function of `_pose` for this model, image shapes and options (None if the model cannot be a
    weak dictionary key, or tables were passed)."""
    if "tables" in options:
        return None
    try:
        functions = _POSE_FUNCTIONS.setdefault(model, {})
    except TypeError:
        return None
    specs = [tf.TensorSpec([None, *x.shape[1:]], x.dtype) for x in (image_a, image_b)]
    key = (tuple(specs), endpoint, tuple(sorted(options.items())))
    if key not in functions:
        ref = weakref.ref(model)
        functions[key] = tf.function(lambda a, b: _pose(ref(), a, b, endpoint, options), input_signature=specs,
                                     autograph=False)
    return functions[key]


@functools.lru_cache(maxsize=8)
def _load_model_cached(path, mtime):
    return load_model(path)


def relative_pose(image_a, image_b, model, out_bandwidth=None, refine=True, top_k=1, endpoint=None,
                  return_scores=False, **align_options):
    """Relative pose R_ab = R_b R_a^T of image pairs: align(E(I_b), E(I_a)).

    Args:
      image_a, image_b: float32 [batch, H, W, c], views a and b (same batch size).
      model: embedding model, images [batch, H, W, c] -> spherical maps [batch, 2b, 2b, C] (or its path: a .keras
        checkpoint or a SavedModel / Hub directory, loaded once per path and modification time).
      out_bandwidth: int B' >= b of the dense SO(3) grid (default b; see `align`).
      refine, top_k: as in `sphembed.pose.alignment.align`.
      endpoint: output key if the model returns a dict.
      return_scores: also return the correlation scores.
      **align_options: min_separation_deg, refine_steps, tables, method, seeds, coarse_bandwidth (see `align`).

    Returns:
      float32 [batch, 3, 3] (or [batch, top_k, 3, 3]); with return_scores, (rotations, scores [batch(, top_k)]).

    Raises:
      ValueError: if an image batch is not [batch, H, W, c] or the embeddings are not spherical maps.
    """
    with tf.name_scope("relative_pose"):
        image_a, image_b = _check_images(image_a, "image_a"), _check_images(image_b, "image_b")
        if isinstance(model, (str, os.PathLike)):
            path = os.fspath(model)
            model = _load_model_cached(os.path.abspath(path), os.path.getmtime(path) if os.path.exists(path) else 0)
        options = dict(align_options, out_bandwidth=out_bandwidth, refine=refine, top_k=top_k)
        function = _pose_function(model, image_a, image_b, endpoint, options) if tf.executing_eagerly() else None
        if function is None:
            rotations, scores = _pose(model, image_a, image_b, endpoint, options)
        else:
            rotations, scores = function(image_a, image_b)
        return (rotations, scores) if return_scores else rotations


def _mesh_maps(mesh, bandwidth):
    """Sphere maps [batch, 2B, 2B, Cin]: `mesh` as given if array-like, else ray-cast trimesh mesh(es)."""
    meshes = [mesh] if hasattr(mesh, "vertices") else mesh
    if isinstance(meshes, (list, tuple)) and meshes and all(hasattr(m, "vertices") for m in meshes):
        if bandwidth is None:
            raise ValueError("bandwidth (B of the spherical CNN's 2B x 2B input) is needed to ray-cast meshes")
        return tf.constant(np.stack([sphere_map(normalize_mesh(m.copy()), bandwidth) for m in meshes]))
    maps = tf.convert_to_tensor(mesh, tf.float32)
    if maps.shape.rank != 4:
        raise ValueError(f"mesh must be a trimesh mesh, a list of them, or sphere maps [batch, 2B, 2B, Cin], "
                         f"got shape {maps.shape}")
    return maps


def align_image_to_mesh(image, mesh, model, sphcnn, endpoint=None, sphcnn_endpoint=None, bandwidth=None,
                        out_bandwidth=None, refine=True, top_k=1, return_scores=False, **align_options):
    """Pose R of the object in each image relative to a mesh: align(E(I), Phi(S(M))).

    Args:
      image: float32 [batch, H, W, c].
      mesh: trimesh.Trimesh (one mesh for a batch of 1, or a list, one per image), normalized here (centred, farthest
        vertex at distance 1) and ray-cast at `bandwidth`; or precomputed sphere maps S(M) float32
        [batch, 2B, 2B, Cin] of the meshes in their own frame (DESIGN.md §3).
      model: embedding model, images -> [batch, 2b, 2b, C].
      sphcnn: spherical CNN (Keras model or Hub module), sphere maps -> [batch, 2b, 2b, C] or a dict of endpoints.
      endpoint, sphcnn_endpoint: output keys when the models return dicts (the endpoint the embedding was trained on).
      bandwidth: int B of the spherical CNN's input, needed when `mesh` is a mesh.
      out_bandwidth, refine, top_k, return_scores, **align_options: as in `relative_pose`.

    Returns:
      float32 [batch, 3, 3] (or [batch, top_k, 3, 3]): the rotation R with image ~ a view of the mesh in pose R;
      with return_scores, (rotations, scores).

    Raises:
      ValueError: on bad shapes, a mesh without `bandwidth`, or when embedding and spherical-CNN outputs differ in
        shape.
    """
    with tf.name_scope("align_image_to_mesh"):
        e = call_model(model, _check_images(image, "image"), endpoint, "embedding model")
        t = call_model(sphcnn, _mesh_maps(mesh, bandwidth), sphcnn_endpoint, "spherical CNN")
        if e.shape[1:] != t.shape[1:]:
            raise ValueError(f"embedding {e.shape} and spherical-CNN target {t.shape} must have the same shape "
                             "[batch, 2b, 2b, C]; pick the matching sphcnn_endpoint")
        rotations, scores = align(e, t, out_bandwidth, refine, top_k, **align_options)
        return (rotations, scores) if return_scores else rotations
