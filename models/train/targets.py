"""The spherical-CNN targets of the embedding network (issue 5): computed once per split, cached with the dataset.

Targets: the spherical-CNN Hub module (`sphembed export-hub --model sphcnn`) applied to the sphere map of the rotated
mesh of each example, at one named endpoint: T = Phi(S(R M)) [2b, 2b, C]. They are cached next to the dataset:

  DATA_DIR/targets/<endpoint>-<key>/<split>.tfrecord   one serialized float32 [2b, 2b, C] tensor per example, in the
                                                       order of `make_dataset(DATA_DIR, split)` (unshuffled)
  DATA_DIR/targets/<endpoint>-<key>/<split>.json       {"module", "module_sha256", "endpoint", "manifest_sha256",
                                                        "source", "count", "shape"}

key = sha256(module files, endpoint, dataset manifest)[:12], so a changed module (any file of the SavedModel), another
endpoint or a regenerated dataset gets a fresh cache. Source "mesh" (`mesh_template_targets`) caches
<split>-mesh.tfrecord / .json beside the per-view ones: Lambda_{R_v} T_M, one template per mesh, exactly equivariant.
Random anisotropic mesh scaling is part of the dataset (`make-data` renders and ray-casts each example from the same
scaled mesh), so it reaches the images and the targets alike.
"""

import hashlib
import json
import os

import numpy as np
import tensorflow as tf

from sphembed.data.records import make_dataset, read_manifest
from sphembed.data.splits import split_count
from sphembed.models.losses import channel_rms
from sphembed.models.sphere.rotations import rotate_map
from sphembed.models.train.flags import TARGET_SOURCES
from sphembed.models.train.run_dir import load_run
from sphembed.progress import progress_bar

__all__ = ["module_fingerprint", "endpoint_targets", "frozen_endpoint", "mesh_template_targets", "cached_targets", "target_dataset",
           "target_channel_scale"]


def module_fingerprint(path):
    """sha256 hex digest of a SavedModel directory (every file's relative path and bytes) or of one file.

    Raises:
      ValueError: if path does not exist.
    """
    if not os.path.exists(path):
        raise ValueError(f"module path {path!r} does not exist")
    digest = hashlib.sha256()
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(root, name) for root, _, names in os.walk(path) for name in names)
    for name in files:
        digest.update(os.path.relpath(name, path).encode() + b"\0")
        with open(name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _manifest_fingerprint(data_dir):
    return hashlib.sha256(json.dumps(read_manifest(data_dir), sort_keys=True, default=str).encode()).hexdigest()


def endpoint_targets(module, endpoint):
    """One endpoint of the spherical-CNN module as a frozen function: sphere maps float [batch, 2B, 2B, Cin] ->
    float32 [batch, 2b, 2b, C], the module in inference mode, no gradient (what `sphembed.hub_export.HubTargets`
    computes, without the Keras layer).

    Raises:
      ValueError: if `module` is not a SavedModel with a serving_default signature, or has no such endpoint.
    """
    net = load_run(module)
    signatures = getattr(net, "signatures", {})
    if "serving_default" not in signatures or not callable(net):
        raise ValueError(f"{module!r} is not a reusable module with a 'serving_default' signature (write it with "
                         "`sphembed export-hub --model sphcnn`)")
    outputs = signatures["serving_default"].structured_outputs
    if endpoint not in outputs:
        raise ValueError(f"module {module!r} has no endpoint {endpoint!r}; it has {sorted(outputs)}")
    return frozen_endpoint(net, endpoint)


def frozen_endpoint(net, endpoint):
    """The function sphere maps float [batch, 2B, 2B, Cin] -> float32 endpoint [batch, 2b, 2b, C] of a loaded
    reusable module `net`: inference mode, no gradient (shared by `endpoint_targets` and `hub_export.HubTargets`)."""

    def targets(spheres):
        return tf.stop_gradient(net(tf.cast(spheres, tf.float32), training=False)[endpoint])

    return targets


def _cache_paths(data_dir, split, module, endpoint, source="view"):
    module_hash = module_fingerprint(module)
    manifest_hash = _manifest_fingerprint(data_dir)
    key = hashlib.sha256(f"{module_hash}\0{endpoint}\0{manifest_hash}".encode()).hexdigest()[:12]
    folder = os.path.join(data_dir, "targets", f"{endpoint}-{key}")
    meta = {"module": os.path.abspath(module), "module_sha256": module_hash, "endpoint": endpoint,
            "manifest_sha256": manifest_hash, "source": source}
    name = split if source == "view" else f"{split}-{source}"
    return os.path.join(folder, f"{name}.tfrecord"), os.path.join(folder, f"{name}.json"), meta


def _write_tensors(record, tensors):
    """Writes float32 tensors [n, ...] one per record to `record` (via a temporary file); returns n."""
    with tf.io.TFRecordWriter(record + ".tmp") as writer:
        for t in tensors:
            writer.write(tf.io.serialize_tensor(tf.constant(t, tf.float32)).numpy())
    os.replace(record + ".tmp", record)
    return len(tensors)


def mesh_template_targets(targets, rotations, views_per_mesh, batch_size=256):
    """Exactly equivariant targets from per-view ones: T_v = Lambda_{R_v} T_M with one template per mesh,
    T_M = mean over the mesh's views u of Lambda_{R_u}^{-1} Phi(S(R_u M)).

    Args:
      targets: float32 [n, 2b, 2b, C], per-view targets Phi(S(R_v M)) in dataset order (index = mesh * V + view).
      rotations: float32 [n, 3, 3], the views' poses R_v.
      views_per_mesh: V.
      batch_size: maps per spectral rotation call.

    Returns:
      float32 [n, 2b, 2b, C]: band-limited to degrees l < b (the rotation is spectral, `rotate_map`), and the views
      of one mesh are exact rotations of each other (up to float32 round-off).

    Raises:
      ValueError: if n is not a multiple of V.
    """
    n = len(targets)
    if n % views_per_mesh:
        raise ValueError(f"{n} targets are not whole meshes of {views_per_mesh} views")

    def rotate(maps, R):
        return np.concatenate([rotate_map(tf.constant(maps[i:i + batch_size]),
                                          tf.constant(R[i:i + batch_size])).numpy() for i in range(0, n, batch_size)])

    R = np.asarray(rotations, np.float32)
    back = rotate(np.asarray(targets, np.float32), np.swapaxes(R, 1, 2))
    templates = back.reshape(n // views_per_mesh, views_per_mesh, *back.shape[1:]).mean(axis=1)
    return rotate(np.repeat(templates, views_per_mesh, axis=0), R)


def cached_targets(data_dir, split, module, endpoint, batch_size=64, source="view"):
    """Computes (once) and caches the spherical-CNN targets of every example of a split.

    Args:
      data_dir: dataset directory from `sphembed make-data`.
      split: "train", "test", ...
      module: path of the spherical-CNN Hub module (SavedModel directory).
      endpoint: endpoint name of the module (e.g. "block3").
      batch_size: examples per module call while computing.
      source: "view": Phi(S(R_v M)) of each view (the paper's); "mesh": Lambda_{R_v} T_M from one template per mesh
        (`mesh_template_targets`, exactly equivariant), derived from the "view" targets.

    Returns:
      (tfrecord_path, meta): meta is the JSON record of the module docstring ("count", "shape" [2b, 2b, C], ...).

    Raises:
      ValueError: for an unknown endpoint (`endpoint_targets`) or an empty split.
    """
    if source not in TARGET_SOURCES:
        raise ValueError(f"source must be one of {TARGET_SOURCES}, got {source!r}")
    record, meta_path, meta = _cache_paths(data_dir, split, module, endpoint, source)
    if os.path.isfile(meta_path) and os.path.isfile(record):
        with open(meta_path) as fh:
            cached = json.load(fh)
        if all(cached.get(k, "view") == v for k, v in meta.items() if k != "module"):
            return record, cached
    if source == "mesh":
        ds, view_meta = target_dataset(data_dir, split, module, endpoint)
        per_view = np.concatenate([t.numpy() for t in ds.batch(256)])
        rotations = np.concatenate([b["rotation"].numpy() for b in make_dataset(
            data_dir, split, batch_size=256, features=("rotation",))])
        count = _write_tensors(record, mesh_template_targets(per_view, rotations,
                                                             read_manifest(data_dir)["views_per_mesh"]))
        meta.update(count=count, shape=view_meta["shape"])
        with open(meta_path, "w") as fh:
            json.dump(meta, fh, indent=2)
        return record, meta
    layer = endpoint_targets(module, endpoint)
    total = split_count(data_dir, split)
    os.makedirs(os.path.dirname(record), exist_ok=True)
    count, shape = 0, None
    with tf.io.TFRecordWriter(record + ".tmp") as writer:
        batches = make_dataset(data_dir, split, batch_size=batch_size, features=("sphere",))
        with progress_bar(total=total, desc=f"targets {endpoint} ({split})", unit="example") as bar:
            for batch in batches:
                targets = layer(batch["sphere"])
                shape = list(targets.shape[1:])
                for t in targets:
                    writer.write(tf.io.serialize_tensor(t).numpy())
                count += int(targets.shape[0])
                bar.update(int(targets.shape[0]))
    if count == 0:
        os.remove(record + ".tmp")
        raise ValueError(f"split {split!r} of {data_dir} has no examples")
    os.replace(record + ".tmp", record)
    meta.update(count=count, shape=shape)
    with open(meta_path, "w") as fh:
        json.dump(meta, fh, indent=2)
    return record, meta


def target_dataset(data_dir, split, module, endpoint, source="view"):
    """tf.data.Dataset of cached targets, float32 [2b, 2b, C] per example, in dataset order; and the meta dict
    (`cached_targets`; source "view" or "mesh")."""
    record, meta = cached_targets(data_dir, split, module, endpoint, source=source)
    shape = meta["shape"]
    ds = tf.data.TFRecordDataset(record).map(
        lambda s: tf.ensure_shape(tf.io.parse_tensor(s, tf.float32), shape), num_parallel_calls=tf.data.AUTOTUNE)
    return ds, meta


def target_channel_scale(data_dir, split, module, endpoint, source="view"):
    """Per-channel spread of a split's cached targets: float64 [C], `sphembed.models.losses.channel_rms` (the RMS of
    each channel's rotation-dependent part, degree 0 removed per example)."""
    ds, _ = target_dataset(data_dir, split, module, endpoint, source)
    return channel_rms(np.concatenate([t.numpy() for t in ds.batch(256)]))
