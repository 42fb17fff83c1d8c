"""Training and evaluating `EmbeddingNet` on spherical-CNN targets (issue 5); the `sphembed train-embedding` and
`sphembed eval-embedding` commands.

Targets: the spherical-CNN Hub module (`sphembed export-hub --model sphcnn`) applied to the sphere map of the rotated
mesh of each example, at one named endpoint: T = Phi(S(R M)) [2b, 2b, C]. They are computed once per split and cached
next to the dataset:

  DATA_DIR/targets/<endpoint>-<key>/<split>.tfrecord   one serialized float32 [2b, 2b, C] tensor per example, in the
                                                       order of `make_dataset(DATA_DIR, split)` (unshuffled)
  DATA_DIR/targets/<endpoint>-<key>/<split>.json       {"module", "module_sha256", "endpoint", "manifest_sha256",
                                                        "count", "shape"}

key = sha256(module files, endpoint, dataset manifest)[:12], so a changed module (any file of the SavedModel), another
endpoint or a regenerated dataset gets a fresh cache; `targets="on-the-fly"` applies the module in the input pipeline
instead. Random anisotropic mesh scaling is part of the dataset (`make-data` renders and ray-casts each example from
the same scaled mesh), so it reaches the images and the targets alike.

Loss (`loss`): "huber" is the paper's area-weighted Huber loss; "centered-huber" (`CenteredAreaWeightedHuber`) drops
each channel's spherical mean (degree l = 0) from prediction and target first. Deep spherical-CNN features are mostly
l = 0 (62% of the power of the demo's block3 targets): it is rotation invariant and per category, the Huber loss is
dominated by it and pose estimation ignores it (it adds a constant to the SO(3) correlation).

In-plane rotation augmentation (`rotate_augment`): the camera looks along the sphere grid's pole axis z, so
rotating the mesh by alpha = k 360 / (2b) degrees about z (k = 0..2b-1, uniform per example) rotates the image
by alpha about its center (counterclockwise, `np.rot90` for 90 degrees) and rolls the target by k longitude samples,
exactly for the targets (the spherical CNN commutes with longitude rolls). The image is resampled bilinearly; its
shading is exact too for quarter turns, since the gray renders are lit by a headlight along the camera axis.

A run directory holds the standard files of `sphembed.models.train.fit` (TensorBoard logs, best/last .keras, backup
for resuming, history.json) plus `embedding.keras` (the final EmbeddingNet) and `embedding_info.json` (endpoint,
module, sizes, validation metrics).

Evaluation (`evaluate_embedding`): validation area-weighted Huber loss and relative error against the targets, and the
learned equivariance: for pairs (a, b) of views of one held-out mesh (poses R_a, R_b), the equivariance error
||E(I_b) - Lambda_{R_ab} E(I_a)|| / ||Lambda_{R_ab} E(I_a)|| (`losses.equivariance_error`, the measure train-sphcnn
reports), R_ab = R_b R_a^T (spectral rotation; both sides projected to degrees l < b), over each category's pairs, next to the same number for a randomly initialized network and for the targets themselves.
"""

import argparse
import hashlib
import json
import math
import os

__all__ = [
    "module_fingerprint",
    "read_run_info",
    "cached_targets",
    "target_dataset",
    "target_channel_scale",
    "mesh_template_targets",
    "rotate_in_plane",
    "embedding_dataset",
    "ARCHITECTURE_SIZES",
    "architecture_sizes",
    "architecture_config",
    "build_embedding_net",
    "learning_rate_schedule",
    "train_embedding",
    "evaluate_embedding",
    "load_embedding_model",
    "export_embedding_from_checkpoint",
    "add_training_arguments",
    "preset_from_args",
    "register",
    "run",
    "run_eval",
]

TARGET_MODES = ("cache", "on-the-fly")
TARGET_SCALINGS = ("none", "channel")
TARGET_SOURCES = ("view", "mesh")
# The sizes each embedding architecture takes (preset settings and train-embedding flags of the same names).
ARCHITECTURE_SIZES = {
    "encoder-decoder": ("latent_dim", "base_filters", "max_filters"),
    "lifted": ("lift_bandwidth", "stem_stride", "base_filters", "max_filters", "context_filters"),
}
EMBEDDING_LOSSES = ("centered-huber", "huber")  # sphembed.models.losses.EMBEDDING_LOSSES (no TensorFlow import here)


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
    from sphembed.data.records import read_manifest

    return hashlib.sha256(json.dumps(read_manifest(data_dir), sort_keys=True, default=str).encode()).hexdigest()


def _targets_layer(module, endpoint):
    from sphembed.hub_export import load_targets_layer

    return load_targets_layer(module, endpoint)


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
    import tensorflow as tf

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
    import numpy as np
    import tensorflow as tf

    from sphembed.models.sphere.rotations import rotate_map

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
      ValueError: for an unknown endpoint (from the module loader) or an empty split.
    """
    import tensorflow as tf

    from sphembed.data.records import make_dataset
    from sphembed.progress import progress_bar

    if source not in TARGET_SOURCES:
        raise ValueError(f"source must be one of {TARGET_SOURCES}, got {source!r}")
    record, meta_path, meta = _cache_paths(data_dir, split, module, endpoint, source)
    if os.path.isfile(meta_path) and os.path.isfile(record):
        with open(meta_path) as fh:
            cached = json.load(fh)
        if all(cached.get(k, "view") == v for k, v in meta.items() if k != "module"):
            return record, cached
    if source == "mesh":
        import numpy as np

        from sphembed.data.records import make_dataset, read_manifest

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
    from sphembed.data.splits import split_count

    layer = _targets_layer(module, endpoint)
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
    import tensorflow as tf

    record, meta = cached_targets(data_dir, split, module, endpoint, source=source)
    shape = meta["shape"]
    ds = tf.data.TFRecordDataset(record).map(
        lambda s: tf.ensure_shape(tf.io.parse_tensor(s, tf.float32), shape), num_parallel_calls=tf.data.AUTOTUNE)
    return ds, meta


def target_channel_scale(data_dir, split, module, endpoint, source="view"):
    """Per-channel spread of a split's cached targets: float64 [C], `sphembed.models.losses.channel_rms` (the RMS of
    each channel's rotation-dependent part, degree 0 removed per example)."""
    import numpy as np

    from sphembed.models.losses import channel_rms

    ds, _ = target_dataset(data_dir, split, module, endpoint, source)
    return channel_rms(np.concatenate([t.numpy() for t in ds.batch(256)]))


def rotate_in_plane(images, targets, k):
    """Rotates a batch of views about the camera axis by alpha = k 2 pi / (2b) (see the module docstring).

    Args:
      images: float [batch, H, H, c], the camera axis through the image center.
      targets: float [batch, 2b, 2b, C] sphere maps (pole axis = camera axis).
      k: int32 [batch], longitude steps.

    Returns:
      (images rotated counterclockwise by alpha with bilinear resampling and zero fill, targets rolled by k along phi).
    """
    import numpy as np
    import tensorflow as tf

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


def _random_in_plane_rotations(ds, seed):
    """Random k per example, reproducible for a seed: each batch draws statelessly from its own seed, taken from a
    seeded stream that changes every epoch, so the parallel map's thread order cannot change the draws."""
    import tensorflow as tf

    def augment(batch, batch_seed):
        images, targets = batch
        k = tf.random.stateless_uniform(tf.shape(images)[:1], tf.stack([tf.constant(seed, tf.int64), batch_seed]),
                                        0, targets.shape[2], tf.int32)
        return rotate_in_plane(images, targets, k)

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip((ds, seeds)).map(augment, num_parallel_calls=tf.data.AUTOTUNE)


def embedding_dataset(data_dir, split, module, endpoint, batch_size, shuffle=False, seed=0, repeat=False,
                      targets="cache", rotate_augment=False, targets_from="view"):
    """(image, target) batches: image float32 [batch, H, W, c] in [0, 1], target float32 [batch, 2b, 2b, C].

    Args:
      data_dir, split, module, endpoint: as in `cached_targets`.
      batch_size: int, global batch size.
      shuffle, seed, repeat: shuffling (seeded, reshuffled each epoch) and repetition of the examples.
      targets: "cache" (computed once, see the module docstring) or "on-the-fly" (module applied per batch).
      rotate_augment: random in-plane rotations of each example (`rotate_in_plane`, uniform k).
      targets_from: "view" (Phi(S(R_v M)), the paper's) or "mesh" (Lambda_{R_v} T_M, `mesh_template_targets`;
        cached targets only).

    Returns:
      (dataset, target_shape): target_shape is [2b, 2b, C].

    Raises:
      ValueError: for an unknown `targets` mode or source, or "mesh" targets on the fly.
    """
    import tensorflow as tf

    from sphembed.data.records import make_dataset

    if targets not in TARGET_MODES:
        raise ValueError(f"targets must be one of {TARGET_MODES}, got {targets!r}")
    if targets_from not in TARGET_SOURCES:
        raise ValueError(f"targets_from must be one of {TARGET_SOURCES}, got {targets_from!r}")
    if targets == "on-the-fly" and targets_from != "view":
        raise ValueError("mesh-template targets (targets_from='mesh') need targets='cache'")
    if targets == "on-the-fly":
        layer = _targets_layer(module, endpoint)
        ds = make_dataset(data_dir, split, batch_size=batch_size, shuffle=shuffle, seed=seed,
                          features=("image", "sphere"), repeat=repeat)
        shape = None
        for batch in ds.take(1):
            shape = list(layer(batch["sphere"][:1]).shape[1:])
        ds = ds.map(lambda ex: (ex["image"], layer(ex["sphere"])))
        if rotate_augment:
            ds = _random_in_plane_rotations(ds, seed)
        return ds.prefetch(tf.data.AUTOTUNE), shape
    target_ds, meta = target_dataset(data_dir, split, module, endpoint, targets_from)
    images = make_dataset(data_dir, split, features=("image",)).map(lambda ex: ex["image"])
    # Known cardinality: Keras' progress bar shows the steps of an epoch.
    ds = tf.data.Dataset.zip((images, target_ds)).apply(tf.data.experimental.assert_cardinality(meta["count"]))
    if shuffle:
        ds = ds.shuffle(min(meta["count"], 8192), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size)
    if rotate_augment:
        ds = _random_in_plane_rotations(ds, seed)
    return ds.prefetch(tf.data.AUTOTUNE), meta["shape"]


def _image_shape(data_dir):
    from sphembed.data.records import read_manifest

    manifest = read_manifest(data_dir)
    return [manifest["image_size"], manifest["image_size"], manifest["channels"]]


def architecture_sizes(architecture, sizes):
    """The non-None entries of `sizes` after checking that they are sizes of `architecture` (ARCHITECTURE_SIZES).

    Raises:
      ValueError: unknown architecture, or a non-None size of another architecture.
    """
    if architecture not in ARCHITECTURE_SIZES:
        raise ValueError(f"architecture must be one of {sorted(ARCHITECTURE_SIZES)}, got {architecture!r}")
    given = {k: v for k, v in sizes.items() if v is not None}
    foreign = sorted(set(given) - set(ARCHITECTURE_SIZES[architecture]))
    if foreign:
        raise ValueError(f"{foreign} do not apply to the {architecture!r} architecture (its sizes: "
                         f"{list(ARCHITECTURE_SIZES[architecture])})")
    return given


def build_embedding_net(image_shape, target_shape, architecture="encoder-decoder", **sizes):
    """The embedding network for images [H, H, c] and targets [2b, 2b, C] (shapes as lists).

    Args:
      image_shape, target_shape: lists [H, H, c] and [2b, 2b, C].
      architecture: "encoder-decoder" (`EmbeddingNet`, the paper's: 1D bottleneck) or "lifted"
        (`LiftedEmbeddingNet`: the view lifted onto the sphere grid, exactly equivariant to in-plane turns).
      **sizes: that architecture's sizes (ARCHITECTURE_SIZES); None values take the class defaults.

    Raises:
      ValueError: unknown architecture, non-square images, or a size the architecture does not have.
    """
    given = architecture_sizes(architecture, sizes)
    H, W, c = image_shape
    if H != W:
        raise ValueError(f"images must be square, got image shape {image_shape}")
    if architecture == "lifted":
        from sphembed.models.nets.lifted import LiftedEmbeddingNet as net
    else:
        from sphembed.models.nets.encoder_decoder import EmbeddingNet as net
    return net(H, c, target_shape[0] // 2, target_shape[-1], **given)


def learning_rate_schedule(learning_rate, boundaries, decay, steps_per_epoch):
    """Piecewise-constant rate: learning_rate * decay^i after the i-th boundary epoch (a float when no boundaries)."""
    from sphembed.models.train.fit import piecewise_schedule

    if not boundaries:
        return float(learning_rate)
    values = [learning_rate * decay ** i for i in range(len(boundaries) + 1)]
    return piecewise_schedule(boundaries, values, steps_per_epoch)


def train_embedding(data_dir, module, run_dir, target_endpoint, architecture="encoder-decoder", latent_dim=None,
                    base_filters=None, max_filters=None, lift_bandwidth=None, stem_stride=None, context_filters=None,
                    epochs=10, batch_size=32, learning_rate=1e-3, lr_boundaries=(), lr_decay=0.1, targets="cache",
                    loss="huber", target_scaling="none", targets_from="view", rotate_augment=False, seed=0,
                    jit_compile=False, strategy="default",
                    train_split="train", val_split="test", verbose=1, callbacks=()):
    """Trains an EmbeddingNet from images to the targets of `target_endpoint`; resumes a killed run in run_dir.

    Args:
      data_dir: dataset directory (`sphembed make-data`).
      module: spherical-CNN Hub module directory (`sphembed export-hub --model sphcnn`).
      run_dir: run directory (see the module docstring).
      target_endpoint: endpoint name of the module.
      architecture: "encoder-decoder" (`EmbeddingNet`, the paper's) or "lifted" (`LiftedEmbeddingNet`), see
        `build_embedding_net`.
      latent_dim, base_filters, max_filters, lift_bandwidth, stem_stride, context_filters: the architecture's sizes
        (ARCHITECTURE_SIZES; None: the class default; a size of the other architecture must be None).
      epochs, batch_size, learning_rate: Adam epochs, global batch size and initial rate.
      loss: "huber" (the paper's area-weighted Huber, delta = 1) or "centered-huber" (without each channel's spherical
        mean, `CenteredAreaWeightedHuber`); see `sphembed.models.losses.EMBEDDING_LOSSES`.
      lr_boundaries, lr_decay: piecewise-constant learning rate, multiplied by lr_decay at each boundary (epochs).
      targets: "cache" or "on-the-fly".
      target_scaling: "none" (the paper's) or "channel": the loss measures every target channel in units of its
        own spread over the training split (`target_channel_scale`); the network still outputs the targets' units.
      targets_from: "view" (the paper's Phi(S(R_v M)) per view) or "mesh" (Lambda_{R_v} T_M, one rotation-averaged
        template per mesh, exactly equivariant: `mesh_template_targets`).
      rotate_augment: random in-plane rotations of the training examples (`rotate_in_plane`).
      seed: seed of the weights, the shuffling and the augmentation.
      jit_compile: XLA-compile the train step (Keras `compile(jit_compile=...)`; Keras' "auto" leaves XLA off on
        CPU-only machines, where it makes the lifted network's step ~16% faster: 128 -> 108 ms at batch 32).
      strategy: "default", "mirrored" or "multi-worker" (`sphembed.models.train.fit.make_strategy`).
      train_split, val_split: dataset splits.
      verbose: Keras verbosity (1: progress bar).
      callbacks: extra Keras callbacks (e.g. `sphembed.pose.protocol`-based evaluation during training).

    Returns:
      (model, info): the trained network and the dict written to RUN_DIR/embedding_info.json.
    """
    import keras

    from sphembed.models.losses import RelativeError, area_weighted_huber, embedding_loss
    from sphembed.models.train.fit import fit_and_record, make_strategy

    embedding_loss(loss)  # validates the name before any work
    if target_scaling not in TARGET_SCALINGS:
        raise ValueError(f"target_scaling must be one of {TARGET_SCALINGS}, got {target_scaling!r}")
    sizes = architecture_sizes(architecture, dict(latent_dim=latent_dim, base_filters=base_filters,
                                                  max_filters=max_filters, lift_bandwidth=lift_bandwidth,
                                                  stem_stride=stem_stride, context_filters=context_filters))
    keras.utils.set_random_seed(seed)
    strategy = make_strategy(strategy)
    train_ds, target_shape = embedding_dataset(data_dir, train_split, module, target_endpoint, batch_size,
                                               shuffle=True, seed=seed, targets=targets,
                                               rotate_augment=rotate_augment, targets_from=targets_from)
    val_ds, _ = embedding_dataset(data_dir, val_split, module, target_endpoint, batch_size, targets=targets,
                                  targets_from=targets_from)
    from sphembed.data.splits import split_count

    image_shape = _image_shape(data_dir)
    steps = math.ceil(split_count(data_dir, train_split) / batch_size)
    scale = (target_channel_scale(data_dir, train_split, module, target_endpoint, targets_from)
             if target_scaling == "channel" else None)
    loss_fn = embedding_loss(loss, channel_scale=scale)
    with strategy.scope():
        model = build_embedding_net(image_shape, target_shape, architecture, **sizes)
        schedule = learning_rate_schedule(learning_rate, lr_boundaries, lr_decay, steps)
        metrics = [RelativeError()]
        if loss != "huber":  # the paper's loss, reported as val_huber whatever the training loss
            metrics.append(keras.metrics.MeanMetricWrapper(area_weighted_huber, name="huber"))
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss_fn, metrics=metrics,
                      jit_compile=bool(jit_compile))
    history = fit_and_record(model, train_ds, run_dir, epochs, validation_data=val_ds, steps_per_epoch=None,
                             monitor="val_loss", callbacks=callbacks, verbose=verbose)
    model.save(os.path.join(run_dir, "embedding.keras"))
    last = history["epochs"][-1] if history["epochs"] else {}
    info = {"target_endpoint": target_endpoint, "module": os.path.abspath(module),
            "module_sha256": module_fingerprint(module), "data_dir": os.path.abspath(data_dir),
            "image_shape": image_shape, "target_shape": list(target_shape), "architecture": architecture,
            "config": model.get_config(),
            "epochs": epochs, "loss": loss, "target_scaling": target_scaling, "targets_from": targets_from,
            "channel_scale": None if scale is None else [float(v) for v in scale],
            "rotate_augment": bool(rotate_augment), "jit_compile": bool(jit_compile),
            "train_seconds": history.get("total_seconds"), "val_loss": last.get("val_loss"),
            "val_huber": last.get("val_loss" if loss == "huber" else "val_huber"),
            "val_relative_error": last.get("val_relative_error")}
    with open(os.path.join(run_dir, "embedding_info.json"), "w") as fh:
        json.dump(info, fh, indent=2, default=str)
    return model, info


def load_embedding_model(path):
    """An embedding network (EmbeddingNet or LiftedEmbeddingNet) from a .keras file, or from a run directory (its
    embedding.keras)."""
    import keras

    import sphembed.models.nets.encoder_decoder  # noqa: F401  (register the classes for deserialization)
    import sphembed.models.nets.lifted  # noqa: F401

    if os.path.isdir(path):
        path = os.path.join(path, "embedding.keras")
    if not os.path.isfile(path):
        raise ValueError(f"no EmbeddingNet at {path!r} (a .keras file or a train-embedding run directory)")
    return keras.saving.load_model(path, compile=False)


def _predict(model, x, batch_size):
    import numpy as np

    return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def _rotated_pairs(maps, rotations, pairs, batch_size):
    """(P e_b, Lambda_{R_b R_a^T} e_a) for each pair: maps [n, 2b, 2b, C], pairs [P, 2] rows -> two [P, 2b, 2b, C]
    arrays (P: projection to degrees l < b, the band limit the exact rotation keeps; each map projected once)."""
    import numpy as np
    import tensorflow as tf

    from sphembed.models.sphere.shapes import bandwidth_of
    from sphembed.models.sphere.rotations import rotate_map
    from sphembed.models.sphere.harmonics import isht, sht

    B = bandwidth_of(maps, "embeddings")
    projected = np.concatenate([isht(sht(tf.constant(maps[i:i + batch_size])), B).numpy()
                                for i in range(0, len(maps), batch_size)])
    expected = []
    for i in range(0, len(pairs), batch_size):
        a, b = pairs[i:i + batch_size, 0], pairs[i:i + batch_size, 1]
        R = np.einsum("nij,nkj->nik", rotations[b], rotations[a]).astype(np.float32)  # R_b R_a^T
        expected.append(rotate_map(tf.constant(maps[a]), R).numpy())
    return projected[pairs[:, 1]], np.concatenate(expected)


def evaluate_embedding(model, data_dir, module, endpoint, split="test", batch_size=32, seed=0, partners=3,
                       targets_from="view"):
    """Validation loss / relative error and learned equivariance (module docstring), per category and "all".

    Args:
      model: trained EmbeddingNet / LiftedEmbeddingNet (or any Keras model images -> [batch, 2b, 2b, C]).
      data_dir, module, endpoint: dataset, spherical-CNN module and endpoint the model was trained on.
      split: held-out split.
      batch_size: examples per call.
      seed: seed of the randomly initialized reference network and of the view pairs.
      partners: view pairs per view (pairs of views of the same mesh: `sphembed.data.pairs.make_pairs`, "IB").

    Returns:
      dict {"huber", "relative_error", "pairs", "equivariance": {category: {"trained", "random_init", "targets",
      "pairs"}}} (equivariance values are `equivariance_error`s ||P e_b - Lambda e_a|| / ||Lambda e_a|| over a
      category's pairs, the measure train-sphcnn reports for the spherical CNN; "targets": the targets' own error).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from sphembed.data.pairs import make_pairs, pair_rows
    from sphembed.models.nets.encoder_decoder import EmbeddingNet
    from sphembed.models.nets.lifted import LiftedEmbeddingNet
    from sphembed.models.losses import area_weighted_huber, equivariance_error, relative_error
    from sphembed.data.splits import load_split

    data = load_split(data_dir, "image", split, batch_size)
    target_ds, meta = target_dataset(data_dir, split, module, endpoint, targets_from)
    targets = np.stack([t.numpy() for t in target_ds])
    predicted = _predict(model, data["image"], batch_size)
    if predicted.shape != targets.shape:
        raise ValueError(f"model output {predicted.shape[1:]} differs from the {endpoint} targets {targets.shape[1:]}")
    keras.utils.set_random_seed(seed)
    config = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable", "dtype")}
    nets = (EmbeddingNet, LiftedEmbeddingNet)
    random_net = type(model)(**config) if isinstance(model, nets) else keras.models.clone_model(model)
    random_pred = _predict(random_net, data["image"], batch_size)
    rows = pair_rows(data["index"], make_pairs(data_dir, split=split, kind="IB", partners=partners, seed=seed))
    pairs = {name: _rotated_pairs(maps, data["rotation"], rows, batch_size)
             for name, maps in (("trained", predicted), ("random_init", random_pred), ("targets", targets))}
    cats = data["category"][rows[:, 0]]
    per_category = {}
    for cat in sorted(set(cats)) + ["all"]:
        mask = np.ones(len(rows), bool) if cat == "all" else cats == cat
        per_category[str(cat)] = {name: equivariance_error(got[mask], expected[mask])
                                  for name, (got, expected) in pairs.items()}
        per_category[str(cat)]["pairs"] = int(mask.sum())
    huber = float(np.mean(area_weighted_huber(tf.constant(targets), tf.constant(predicted))))
    rel = float(np.mean(relative_error(targets, predicted)))
    return {"split": split, "endpoint": endpoint, "examples": int(len(targets)), "huber": huber,
            "relative_error": rel, "pairs": int(len(rows)), "equivariance": per_category}


def add_training_arguments(parser, section):
    """The flags shared by train-embedding and train-synthesis (paths, schedule, sizes, strategy, seed)."""
    from sphembed.models.train.flags import add_fit_arguments

    parser.add_argument("--data", required=True, metavar="DIR", help="dataset directory from make-data")
    parser.add_argument("--module", required=True, metavar="DIR",
                        help="spherical-CNN Hub module directory (export-hub --model sphcnn)")
    parser.add_argument("--run-dir", required=True, metavar="DIR", help="output directory of the run")
    parser.add_argument("--preset", default="demo",
                        help=f"preset whose '{section}' section gives the defaults (demo, paper)")
    parser.add_argument("--latent-dim", type=int, default=None, help="size of the 1D bottleneck (preset; paper 1024)")
    parser.add_argument("--base-filters", type=int, default=None,
                        help="channels at the highest resolution of encoder and decoder (preset; paper 64)")
    parser.add_argument("--max-filters", type=int, default=None, help="channel cap (preset; paper 256)")
    add_fit_arguments(parser)


def register(subparsers):
    p = subparsers.add_parser(
        "train-embedding", help="train the embedding network (image -> spherical embedding) on spherical-CNN targets",
        description="Trains the image -> sphere network (--architecture: the paper's encoder-decoder or the lifted, "
        "in-plane equivariant one) to regress the spherical-CNN module's features at "
        "--target-endpoint of each example's rotated mesh (area-weighted Huber loss, or --loss). Targets are "
        "computed once and cached under DATA/targets/ (recomputed when the module, endpoint or dataset changes). Writes TensorBoard "
        "logs, checkpoints, history.json, embedding.keras and embedding_info.json into --run-dir; rerunning the "
        "same command resumes an interrupted run.")
    add_training_arguments(p, "embedding")
    p.add_argument("--target-endpoint", default=None, metavar="NAME",
                   help="endpoint of the module to regress, e.g. block3 (preset embedding.target_endpoint)")
    p.add_argument("--targets", choices=TARGET_MODES, default=None,
                   help="cache: compute the targets once and store them with the dataset; on-the-fly: apply the "
                   "module in the input pipeline (preset)")
    p.add_argument("--loss", choices=sorted(EMBEDDING_LOSSES), default=None,
                   help="huber: the paper's area-weighted Huber loss; centered-huber: the same without each channel's "
                   "spherical mean (degree 0, which pose estimation ignores) (preset)")
    p.add_argument("--rotate-augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random in-plane rotations of the training views (image rotated, target rolled in "
                   "longitude) (preset)")
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA-compile the training step (faster on CPU; Keras leaves it off there by default) (preset)")
    p.add_argument("--targets-from", choices=TARGET_SOURCES, default=None,
                   help="view: each view's Phi(S(R_v M)) (the paper's); mesh: Lambda_{R_v} T_M, the exact rotation "
                   "of one template per mesh (the mean of its views' targets rotated back), exactly equivariant "
                   "(preset)")
    p.add_argument("--target-scaling", choices=TARGET_SCALINGS, default=None,
                   help="none: the loss in the targets' units; channel: each target channel measured in units of "
                   "its own spread over the training split (the rotation-dependent part; small channels are "
                   "fitted too) (preset)")
    p.add_argument("--architecture", choices=sorted(ARCHITECTURE_SIZES), default=None,
                   help="encoder-decoder: the paper's EmbeddingNet (1D bottleneck; sizes --latent-dim, "
                   "--base-filters, --max-filters); lifted: LiftedEmbeddingNet, the view lifted onto the sphere grid "
                   "and a circular CNN, exactly equivariant to in-plane turns (sizes --lift-bandwidth, "
                   "--stem-stride, --base-filters, --max-filters, --context-filters) (preset)")
    p.add_argument("--lift-bandwidth", type=int, default=None, metavar="B",
                   help="lifted: bandwidth of the 2B x 2B grid the view is lifted onto (preset)")
    p.add_argument("--stem-stride", type=int, choices=(1, 2), default=None,
                   help="lifted: 2 = a 5x5 stride-2 stem conv (the view lifted at twice the CNN's first resolution, "
                   "for thin parts), 1 = 3x3 (preset)")
    p.add_argument("--context-filters", type=int, default=None,
                   help="lifted: channels of the context ring and the global shape vector (preset)")
    p.set_defaults(func=run)

    e = subparsers.add_parser(
        "eval-embedding", help="validation loss / relative error and learned equivariance of a trained EmbeddingNet",
        description="On held-out meshes: area-weighted Huber loss and relative error against the targets, and the "
        "equivariance error ||E(I_b) - Lambda E(I_a)|| / ||Lambda E(I_a)|| (Lambda: the exact rotation by "
        "R_b R_a^T) over view pairs of one mesh, per category, next to a randomly initialized network and the "
        "targets themselves (the measure train-sphcnn reports). Writes JSON.")
    e.add_argument("--model", required=True, metavar="PATH", help="embedding.keras or a train-embedding run directory")
    e.add_argument("--data", required=True, metavar="DIR", help="dataset directory from make-data")
    e.add_argument("--module", default=None, metavar="DIR",
                   help="spherical-CNN Hub module (default: the one in the run's embedding_info.json)")
    e.add_argument("--target-endpoint", default=None, metavar="NAME",
                   help="endpoint (default: the one in the run's embedding_info.json)")
    e.add_argument("--split", default="test", help="held-out split (default test)")
    e.add_argument("--out", required=True, metavar="FILE", help="output JSON file")
    e.set_defaults(func=run_eval)


def read_run_info(model_path):
    """RUN/embedding_info.json of a run directory or of a model file inside one ({} when absent)."""
    folder = model_path if os.path.isdir(model_path) else os.path.dirname(model_path)
    path = os.path.join(folder, "embedding_info.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as fh:
        return json.load(fh)


def preset_from_args(args, section):
    """The preset section args.preset/section with every setting that has a non-None flag of the same name replaced."""
    from sphembed.presets import get_preset

    defaults = get_preset(args.preset, section)
    return get_preset(args.preset, section, **{key: getattr(args, key, None) for key in defaults})


def architecture_config(cfg, given=()):
    """cfg with the sizes that do not apply to cfg["architecture"] set to None, unless named in `given` (sizes the
    user set, which then raise in `build_embedding_net`): a preset's sizes of the other architecture are dropped."""
    keep = set(ARCHITECTURE_SIZES.get(cfg["architecture"], ())) | set(given)
    every = {k for sizes in ARCHITECTURE_SIZES.values() for k in sizes}
    return {k: (None if k in every - keep else v) for k, v in cfg.items()}


def run(args):
    cfg = preset_from_args(args, "embedding")
    cfg = architecture_config(cfg, [k for k in cfg if getattr(args, k, None) is not None])
    if not os.path.isdir(args.data):
        raise SystemExit(f"train-embedding: --data {args.data!r} is not a directory")
    _, info = train_embedding(args.data, args.module, args.run_dir, strategy=args.strategy, verbose=args.verbose,
                              **cfg)
    print(f"train-embedding: {args.run_dir}/embedding.keras (endpoint {info['target_endpoint']}, "
          f"val Huber {info['val_huber']:.4g}, val relative error {info['val_relative_error']:.4g})")
    return 0


def run_eval(args):
    info = read_run_info(args.model)
    module = args.module or info.get("module")
    endpoint = args.target_endpoint or info.get("target_endpoint")
    if not module or not endpoint:
        raise SystemExit("eval-embedding: give --module and --target-endpoint (no embedding_info.json next to the "
                         "model)")
    result = evaluate_embedding(load_embedding_model(args.model), args.data, module, endpoint, split=args.split,
                                targets_from=info.get("targets_from", "view"))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    eq = result["equivariance"]["all"]
    print(f"eval-embedding: Huber {result['huber']:.4g}, relative error {result['relative_error']:.4g}; "
          f"equivariance error trained {eq['trained']:.4g} vs random init {eq['random_init']:.4g} "
          f"(targets {eq['targets']:.4g}) -> {args.out}")
    return 0


def export_embedding_from_checkpoint(checkpoint, path, endpoints=None):
    """Exports a trained EmbeddingNet (.keras file or train-embedding run directory) as a reusable SavedModel.

    The module maps images to {"embedding": float32 [batch, 2b, 2b, C]}: `__call__(inputs, training=False)` takes
    float32 [batch, H, W, c] in [0, 1] at the trained size; `serving_default(inputs)` float32 and
    `serving_uint8(inputs)` uint8 images of any size, 1 or 3 channels (`sphembed.hub_export.export_image_module`).

    Raises:
      ValueError: if `endpoints` names anything but "embedding".
    """
    from sphembed.hub_export import export_image_module

    if endpoints and list(endpoints) != ["embedding"]:
        raise ValueError(f"the embedding module has the single output 'embedding', got endpoints {list(endpoints)}")
    return export_image_module(path, load_embedding_model(checkpoint), "embedding")
