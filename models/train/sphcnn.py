"""Training the SphericalCNN classifier on sphere maps from `sphembed make-data`: `train_sphcnn`, the trainer of
`sphembed train-sphcnn`.

Inputs are the maps of meshes in random 3D rotations (the dataset's "sphere" feature, [2B, 2B, 2]: hit radius,
|cos| normal), augmented with random anisotropic scaling (`sphembed.models.train.augment.random_anisotropic_scaling`).
The run directory follows `sphembed.models.train.run_dir` (stage "sphcnn": sphcnn.keras, the final model, and
run_info.json whose results hold the accuracy on the rotated train and test splits, the parameter count, seconds per
epoch and the measured equivariance errors, `sphembed.models.nets.sphcnn.equivariance_errors`, of the trained
network); export it as the target module with `sphembed export-hub --model sphcnn --checkpoint RUN_DIR/best.keras`.
"""

import keras
import numpy as np
import tensorflow as tf
from scipy.spatial.transform import Rotation

from sphembed.data.records import make_dataset, read_manifest
from sphembed.models.nets.sphcnn import SphericalCNN, equivariance_errors
from sphembed.models.train.augment import random_anisotropic_scaling
from sphembed.models.train.fit import fit_and_record, learning_rate_schedule, make_strategy
from sphembed.models.train.run_dir import finish_run

__all__ = ["build_from_config", "sphcnn_datasets", "train_sphcnn"]


def build_from_config(cfg, num_classes, in_channels=2):
    """SphericalCNN from a `sphcnn` preset section (input_bandwidth and the architecture keys)."""
    return SphericalCNN(cfg["input_bandwidth"], in_channels=in_channels, num_classes=num_classes,
                        stem_channels=cfg["stem_channels"], stages=[tuple(s) for s in cfg["stages"]],
                        num_anchors=cfg["num_anchors"], degree_fraction=cfg["degree_fraction"],
                        weight_decay=cfg["weight_decay"])


def sphcnn_datasets(data_dir, global_batch, counts, anisotropic_scaling, seed):
    """(train, plain): the shuffled, repeated and augmented (sphere, label) training batches (epochs of exactly
    counts["train"] // global_batch batches), and {"train", "test"}: the unaugmented splits in record order."""
    def tuples(ds):
        return ds.map(lambda ex: (ex["sphere"], ex["label"]), num_parallel_calls=tf.data.AUTOTUNE)

    train = make_dataset(data_dir, "train", shuffle=True, seed=seed, features=("sphere", "label"),
                         repeat=True)  # epochs of exactly steps_per_epoch batches
    train = tuples(train).batch(global_batch, drop_remainder=True)
    if anisotropic_scaling > 0:
        train = train.enumerate().map(
            lambda i, batch: (random_anisotropic_scaling(batch[0], anisotropic_scaling,
                                                         tf.stack([tf.cast(seed, tf.int64), i])),
                              batch[1]), num_parallel_calls=tf.data.AUTOTUNE)
    # Known sizes: Keras then shows totals and does not warn when an evaluation pass reaches the end.
    plain = {split: tuples(make_dataset(data_dir, split, features=("sphere", "label"))).batch(global_batch).apply(
        tf.data.experimental.assert_cardinality(-(-counts[split] // global_batch))) for split in ("train", "test")}
    return train.prefetch(tf.data.AUTOTUNE), plain


def train_sphcnn(data_dir, run_dir, input_bandwidth=None, stem_channels=16, stages=((32, 1), (64, 1), (128, 1)),
                 num_anchors=4, degree_fraction=1.0, weight_decay=0.0, epochs=10, batch_size=16, learning_rate=1e-3,
                 lr_boundaries=(), lr_decay=0.1, anisotropic_scaling=0.2, seed=0, strategy="default", verbose=1):
    """Trains a SphericalCNN classifier on a dataset's rotated sphere maps; resumes a killed run in run_dir.

    Args:
      data_dir: dataset directory (`sphembed make-data`).
      run_dir: run directory (`sphembed.models.train.run_dir`).
      input_bandwidth: B of the 2B x 2B input maps; the dataset's sphere_bandwidth is used (with a note when this
        differs), None: the dataset's.
      stem_channels, stages, num_anchors, degree_fraction, weight_decay: the architecture (`SphericalCNN`; stages
        [(channels, blocks), ...], 2B halves between stages).
      epochs, batch_size, learning_rate: Adam epochs, global batch size and initial rate.
      lr_boundaries, lr_decay: the learning rate is multiplied by lr_decay at each boundary (epochs).
      anisotropic_scaling: augmentation, random scale factors in [1 - a, 1 + a] along random axes (0 disables).
      seed: seed of the weights, the shuffling, the augmentation and the rotations of the equivariance check.
      strategy: "default", "mirrored" or "multi-worker" (`sphembed.models.train.fit.make_strategy`).
      verbose: Keras verbosity (1: progress bar).

    Returns:
      (model, info): the trained SphericalCNN and the run_info dict written to RUN_DIR/run_info.json.

    Raises:
      ValueError: if the training split is smaller than one batch.
    """
    cfg = {k: v for k, v in locals().items() if k not in ("data_dir", "run_dir", "verbose")}
    manifest = read_manifest(data_dir)
    if cfg["input_bandwidth"] not in (None, manifest["sphere_bandwidth"]):
        print(f"train-sphcnn: dataset {data_dir} has sphere_bandwidth={manifest['sphere_bandwidth']}; using it "
              f"instead of input_bandwidth={cfg['input_bandwidth']}")
    cfg["input_bandwidth"] = manifest["sphere_bandwidth"]
    categories = list(manifest["categories"])
    strategy = make_strategy(strategy)
    keras.utils.set_random_seed(seed)
    train, plain = sphcnn_datasets(data_dir, batch_size, manifest["counts"], anisotropic_scaling, seed)
    steps = manifest["counts"]["train"] // batch_size
    if steps == 0:
        raise ValueError(f"dataset {data_dir} has fewer train examples than one batch of {batch_size}")
    with strategy.scope():
        model = build_from_config(cfg, num_classes=len(categories))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(learning_rate, lr_boundaries, lr_decay,
                                                                             steps)),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = fit_and_record(model, train, run_dir, epochs, validation_data=plain["test"], steps_per_epoch=steps,
                             monitor="val_accuracy", mode="max", verbose=verbose)
    accuracy = {split: float(model.evaluate(ds, verbose=0, return_dict=True)["accuracy"])
                for split, ds in plain.items()}
    x = next(iter(plain["test"]))[0][:8]
    R = tf.constant(Rotation.random(int(x.shape[0]), random_state=np.random.default_rng(seed)).as_matrix(),
                    tf.float32)
    results = {
        "categories": categories,
        "evaluated": "final weights (sphcnn.keras = last.keras), maps of the rotated meshes without augmentation",
        "train_accuracy_rotated": accuracy["train"],
        "test_accuracy_rotated": accuracy["test"],
        "parameters": int(model.count_params()),
        "seconds_per_epoch": float(np.mean([e["seconds"] for e in history["epochs"]])),
        "equivariance_error": equivariance_errors(model, x, R),
    }
    info = finish_run(run_dir, "sphcnn", model, history, data_dir, cfg, results=results,
                      replicas=strategy.num_replicas_in_sync)
    return model, info
