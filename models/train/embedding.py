"""Training the embedding network (issue 5) on the spherical-CNN targets: `train_embedding`, the trainer of
`sphembed train-embedding`.

The network regresses the targets of `sphembed.models.train.targets` (cached per split, or computed in the input
pipeline with targets="on-the-fly"): images [H, H, c] -> [2b, 2b, C] at one endpoint of the spherical-CNN module.

Architectures (`build_embedding_net`, sizes ARCHITECTURE_SIZES): "encoder-decoder" (`EmbeddingNet`, the paper's: a
1D bottleneck) or "lifted" (`LiftedEmbeddingNet`: the view lifted onto the sphere grid and a circular CNN, exactly
equivariant to in-plane turns).

Loss (`loss`): "huber" is the paper's area-weighted Huber loss; "centered-huber" (`CenteredAreaWeightedHuber`) drops
each channel's spherical mean (degree l = 0) from prediction and target first. Deep spherical-CNN features are mostly
l = 0 (62% of the power of the demo's block3 targets): it is rotation invariant and per category, the Huber loss is
dominated by it and pose estimation ignores it (it adds a constant to the SO(3) correlation). Augmentation: random
in-plane rotations (`rotate_augment`, `sphembed.models.train.augment.rotate_in_plane`).

A run directory follows `sphembed.models.train.run_dir` (stage "embedding": embedding.keras, run_info.json with the
module, its hash, the targets' shapes, the channel scale and the validation metrics). Evaluation:
`sphembed.models.train.embedding_eval`.
"""

import math
import os

import keras
import tensorflow as tf

from sphembed.data.records import make_dataset, read_manifest
from sphembed.data.splits import split_count
from sphembed.models.losses import RelativeError, area_weighted_huber, embedding_loss
from sphembed.models.nets.encoder_decoder import EmbeddingNet
from sphembed.models.nets.lifted import LiftedEmbeddingNet
from sphembed.models.train.augment import random_in_plane_rotations
from sphembed.models.train.fit import fit_and_record, learning_rate_schedule, make_strategy
from sphembed.models.train.flags import TARGET_MODES, TARGET_SCALINGS, TARGET_SOURCES
from sphembed.models.train.run_dir import finish_run
from sphembed.models.train.targets import endpoint_targets, module_fingerprint, target_channel_scale, target_dataset
from sphembed.presets import ARCHITECTURE_SIZES

__all__ = ["embedding_dataset", "image_shape", "architecture_sizes", "build_embedding_net", "train_embedding"]

NETWORKS = {"encoder-decoder": EmbeddingNet, "lifted": LiftedEmbeddingNet}


def embedding_dataset(data_dir, split, module, endpoint, batch_size, shuffle=False, seed=0, repeat=False,
                      targets="cache", rotate_augment=False, targets_from="view"):
    """(image, target) batches: image float32 [batch, H, W, c] in [0, 1], target float32 [batch, 2b, 2b, C].

    Args:
      data_dir, split, module, endpoint: as in `sphembed.models.train.targets.cached_targets`.
      batch_size: int, global batch size.
      shuffle, seed, repeat: shuffling (seeded, reshuffled each epoch) and repetition of the examples.
      targets: "cache" (computed once, `cached_targets`) or "on-the-fly" (module applied per batch).
      rotate_augment: random in-plane rotations of each example (`rotate_in_plane`, uniform k).
      targets_from: "view" (Phi(S(R_v M)), the paper's) or "mesh" (Lambda_{R_v} T_M, `mesh_template_targets`;
        cached targets only).

    Returns:
      (dataset, target_shape): target_shape is [2b, 2b, C].

    Raises:
      ValueError: for an unknown `targets` mode or source, or "mesh" targets on the fly.
    """
    if targets not in TARGET_MODES:
        raise ValueError(f"targets must be one of {TARGET_MODES}, got {targets!r}")
    if targets_from not in TARGET_SOURCES:
        raise ValueError(f"targets_from must be one of {TARGET_SOURCES}, got {targets_from!r}")
    if targets == "on-the-fly" and targets_from != "view":
        raise ValueError("mesh-template targets (targets_from='mesh') need targets='cache'")
    if targets == "on-the-fly":
        layer = endpoint_targets(module, endpoint)
        ds = make_dataset(data_dir, split, batch_size=batch_size, shuffle=shuffle, seed=seed,
                          features=("image", "sphere"), repeat=repeat)
        shape = None
        for batch in ds.take(1):
            shape = list(layer(batch["sphere"][:1]).shape[1:])
        ds = ds.map(lambda ex: (ex["image"], layer(ex["sphere"])))
        if rotate_augment:
            ds = random_in_plane_rotations(ds, seed)
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
        ds = random_in_plane_rotations(ds, seed)
    return ds.prefetch(tf.data.AUTOTUNE), meta["shape"]


def image_shape(data_dir):
    """[H, W, c] of a dataset's images."""
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
    return NETWORKS[architecture](H, c, target_shape[0] // 2, target_shape[-1], **given)


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
      run_dir: run directory (`sphembed.models.train.run_dir`).
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
      (model, info): the trained network and the run_info dict written to RUN_DIR/run_info.json (results:
      image_shape, target_shape, channel_scale, val_loss, val_huber, val_relative_error).
    """
    config = {k: v for k, v in locals().items() if k not in ("data_dir", "module", "run_dir", "verbose", "callbacks")}
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
    images = image_shape(data_dir)
    steps = math.ceil(split_count(data_dir, train_split) / batch_size)
    scale = (target_channel_scale(data_dir, train_split, module, target_endpoint, targets_from)
             if target_scaling == "channel" else None)
    loss_fn = embedding_loss(loss, channel_scale=scale)
    with strategy.scope():
        model = build_embedding_net(images, target_shape, architecture, **sizes)
        schedule = learning_rate_schedule(learning_rate, lr_boundaries, lr_decay, steps)
        metrics = [RelativeError()]
        if loss != "huber":  # the paper's loss, reported as val_huber whatever the training loss
            metrics.append(keras.metrics.MeanMetricWrapper(area_weighted_huber, name="huber"))
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss_fn, metrics=metrics,
                      jit_compile=bool(jit_compile))
    history = fit_and_record(model, train_ds, run_dir, epochs, validation_data=val_ds, steps_per_epoch=None,
                             monitor="val_loss", callbacks=callbacks, verbose=verbose)
    last = history["epochs"][-1] if history["epochs"] else {}
    info = finish_run(run_dir, "embedding", model, history, data_dir, config,
                      inputs={"module": os.path.abspath(module), "module_sha256": module_fingerprint(module)},
                      results={"image_shape": images, "target_shape": list(target_shape),
                               "channel_scale": None if scale is None else [float(v) for v in scale],
                               "val_loss": last.get("val_loss"),
                               "val_huber": last.get("val_loss" if loss == "huber" else "val_huber"),
                               "val_relative_error": last.get("val_relative_error")},
                      replicas=strategy.num_replicas_in_sync)
    return model, info
