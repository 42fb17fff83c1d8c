"""`sphembed train-sphcnn`: train the SphericalCNN classifier on sphere maps from `sphembed make-data`.

Inputs are the maps of meshes in random 3D rotations (the dataset's "sphere" feature, [2B, 2B, 2]: hit radius,
|cos| normal), augmented with random anisotropic scaling (`anisotropic_scaling`); the run directory (see
sphembed.models.train.fit) holds checkpoints, TensorBoard logs, history.json, and report.json with the accuracy on
the rotated train and test splits, the parameter count, seconds per epoch and the measured equivariance errors
(sphembed.models.nets.sphcnn.equivariance_errors) of the trained network.

This module imports TensorFlow only inside `run`, so `sphembed --help` stays fast.
"""

import argparse
import json
import os

__all__ = ["register", "run", "anisotropic_scale_maps", "random_anisotropic_scaling", "build_from_config"]

_ARCH_KEYS = ("stem_channels", "stages", "num_anchors", "degree_fraction", "weight_decay")


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
    import tensorflow as tf

    from sphembed.models.sphere.grids import sphere_points

    from sphembed.models.sphere.shapes import bandwidth_of
    from sphembed.models.sphere.rotations import _bilinear_on_grid

    with tf.name_scope("anisotropic_scale_maps"):
        sphere = tf.convert_to_tensor(sphere, tf.float32)
        B = bandwidth_of(sphere, "sphere")
        S = tf.convert_to_tensor(S, tf.float32)
        w = tf.constant(sphere_points(B), tf.float32)
        u = tf.einsum("bij,hwj->bhwi", tf.linalg.inv(S), w)  # S^-1 w
        norm = tf.norm(u, axis=-1, keepdims=True)
        sampled = _bilinear_on_grid(sphere, u / norm)
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
    import tensorflow as tf

    batch = tf.shape(sphere)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    s = tf.random.stateless_uniform([batch, 3], seeds[0], 1.0 - amount, 1.0 + amount)
    Q, _ = tf.linalg.qr(tf.random.stateless_normal([batch, 3, 3], seeds[1]))  # any orthogonal Q gives SPD S
    S = tf.einsum("bij,bj,bkj->bik", Q, s, Q)
    return anisotropic_scale_maps(sphere, S)


def build_from_config(cfg, num_classes, in_channels=2):
    """SphericalCNN from a `sphcnn` preset section (input_bandwidth and the architecture keys)."""
    from sphembed.models.nets.sphcnn import SphericalCNN

    return SphericalCNN(cfg["input_bandwidth"], in_channels=in_channels, num_classes=num_classes,
                        stem_channels=cfg["stem_channels"], stages=[tuple(s) for s in cfg["stages"]],
                        num_anchors=cfg["num_anchors"], degree_fraction=cfg["degree_fraction"],
                        weight_decay=cfg["weight_decay"])


def _stages(text):
    try:
        return [[int(v) for v in item.split(":")] for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--stages must look like '32:1,64:1,128:1' (channels:blocks), got {text!r}")


def register(subparsers):
    from sphembed.models.train.flags import add_fit_arguments
    from sphembed.presets import PRESETS

    p = subparsers.add_parser(
        "train-sphcnn", help="train the spherical CNN classifier on sphere maps from make-data",
        description=__doc__.splitlines()[0] + " Flags override the preset's `sphcnn` section.")
    p.add_argument("--data", required=True, help="dataset directory written by `sphembed make-data`")
    p.add_argument("--out", required=True,
                   help="run directory (checkpoints best.keras/last.keras, logs/, history.json, report.json); "
                        "re-running with the same --out resumes an interrupted run")
    p.add_argument("--preset", default="demo", choices=sorted(PRESETS), help="named configuration (default demo)")
    add_fit_arguments(p)
    p.add_argument("--stem-channels", type=int, help="channels of the first spherical convolution")
    p.add_argument("--stages", type=_stages, help="residual stages 'channels:blocks,...'; 2B halves between stages")
    p.add_argument("--num-anchors", type=int, help="spectral anchors per filter (localized filters)")
    p.add_argument("--degree-fraction", type=float, help="L = fraction * B in every spherical convolution")
    p.add_argument("--weight-decay", type=float, help="L2 factor on kernels")
    p.add_argument("--anisotropic-scaling", type=float,
                   help="augmentation: random scale factors in [1-a, 1+a] along random axes (0 disables)")
    p.set_defaults(func=run)


def _config(args):
    from sphembed.presets import get_preset

    keys = ("epochs", "batch_size", "learning_rate", "lr_boundaries", "lr_decay", "anisotropic_scaling", "seed")
    return get_preset(args.preset, "sphcnn", **{k: getattr(args, k) for k in keys + _ARCH_KEYS})


def _datasets(data_dir, cfg, global_batch, counts):
    import tensorflow as tf

    from sphembed.data.records import make_dataset

    def tuples(ds):
        return ds.map(lambda ex: (ex["sphere"], ex["label"]), num_parallel_calls=tf.data.AUTOTUNE)

    train = make_dataset(data_dir, "train", shuffle=True, seed=cfg["seed"], features=("sphere", "label"),
                         repeat=True)  # epochs of exactly steps_per_epoch batches
    train = tuples(train).batch(global_batch, drop_remainder=True)
    if cfg["anisotropic_scaling"] > 0:
        train = train.enumerate().map(
            lambda i, batch: (random_anisotropic_scaling(batch[0], cfg["anisotropic_scaling"],
                                                         tf.stack([tf.cast(cfg["seed"], tf.int64), i])),
                              batch[1]), num_parallel_calls=tf.data.AUTOTUNE)
    # Known sizes: Keras then shows totals and does not warn when an evaluation pass reaches the end.
    plain = {split: tuples(make_dataset(data_dir, split, features=("sphere", "label"))).batch(global_batch).apply(
        tf.data.experimental.assert_cardinality(-(-counts[split] // global_batch))) for split in ("train", "test")}
    return train.prefetch(tf.data.AUTOTUNE), plain


def run(args):
    import keras
    import numpy as np
    import tensorflow as tf

    from sphembed.data.records import read_manifest
    from sphembed.models.nets.sphcnn import equivariance_errors
    from sphembed.models.train.fit import fit_and_record, make_strategy, piecewise_schedule

    cfg = _config(args)
    manifest = read_manifest(args.data)
    if manifest["sphere_bandwidth"] != cfg["input_bandwidth"]:
        print(f"train-sphcnn: dataset {args.data} has sphere_bandwidth={manifest['sphere_bandwidth']}; using it "
              f"instead of the preset's input_bandwidth={cfg['input_bandwidth']}")
        cfg["input_bandwidth"] = manifest["sphere_bandwidth"]
    categories = list(manifest["categories"])
    strategy = make_strategy(args.strategy)
    keras.utils.set_random_seed(cfg["seed"])
    train, plain = _datasets(args.data, cfg, cfg["batch_size"], manifest["counts"])
    steps = manifest["counts"]["train"] // cfg["batch_size"]
    if steps == 0:
        raise ValueError(f"dataset {args.data} has fewer train examples than one batch of {cfg['batch_size']}")
    rates = [cfg["learning_rate"] * cfg["lr_decay"] ** i for i in range(len(cfg["lr_boundaries"]) + 1)]
    with strategy.scope():
        model = build_from_config(cfg, num_classes=len(categories))
        model.compile(optimizer=keras.optimizers.Adam(piecewise_schedule(cfg["lr_boundaries"], rates, steps)),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    record = fit_and_record(model, train, args.out, cfg["epochs"], validation_data=plain["test"],
                            steps_per_epoch=steps, monitor="val_accuracy", mode="max", verbose=args.verbose)
    accuracy = {split: float(model.evaluate(ds, verbose=0, return_dict=True)["accuracy"])
                for split, ds in plain.items()}
    x = next(iter(plain["test"]))[0][:8]
    R = tf.constant(_random_rotations(np.random.default_rng(cfg["seed"]), int(x.shape[0])), tf.float32)
    report = {
        "categories": categories,
        "evaluated": "final weights (last.keras), maps of the rotated meshes without augmentation",
        "train_accuracy_rotated": accuracy["train"],
        "test_accuracy_rotated": accuracy["test"],
        "parameters": int(model.count_params()),
        "seconds_per_epoch": float(np.mean([e["seconds"] for e in record["epochs"]])),
        "steps_per_epoch": steps,
        "strategy": args.strategy,
        "replicas": int(strategy.num_replicas_in_sync),
        "equivariance_error": equivariance_errors(model, x, R),
        "config": cfg,
    }
    with open(os.path.join(args.out, "report.json"), "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"train-sphcnn: accuracy rotated train {accuracy['train']:.3f} / test {accuracy['test']:.3f}, "
          f"{report['parameters']} parameters, {report['seconds_per_epoch']:.1f} s/epoch; "
          f"models in {args.out} (best.keras, last.keras), report.json")
    return 0


def _random_rotations(rng, n):
    from scipy.spatial.transform import Rotation

    return Rotation.random(n, random_state=rng).as_matrix()
