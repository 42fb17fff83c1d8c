"""Training the two baselines of the paper's pose table (issue 8): `train_regression` and `train_keypointnet`,
the trainers of `sphembed train-regression` and `sphembed train-keypointnet`.

Both train on the same datasets as the embedding (`sphembed make-data`) and are evaluated by the same protocol
(`sphembed eval-pose --method regression / keypointnet`, the methods of `sphembed.pose.methods`):

  regression   `PoseRegressor` on single views: image -> the view's object pose R (needs aligned meshes: the
               procedural categories and the development meshes are aligned); relative pose R̂_b R̂_aᵀ.
  keypointnet  `KeypointNet` on view pairs of one mesh (the "IB" pairs of `sphembed.data.pairs.make_pairs` on the
               training split, `partners` per view) with their relative pose R_b R_aᵀ; silhouettes from the
               dataset's masks; relative pose = Procrustes of the two keypoint sets.

A run directory follows `sphembed.models.train.run_dir` (stage "regression" / "keypointnet": regression.keras /
keypointnet.keras and run_info.json). Learning-rate boundaries, the RMSE warm-up and the orientation-flag anneal are
given in epochs or fractions of the run, so a preset fits any dataset size.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from sphembed.data.pairs import make_pairs, pair_rows
from sphembed.data.records import make_dataset, read_manifest
from sphembed.data.splits import load_split, split_count
from sphembed.models.baselines.keypointnet import KeypointNet
from sphembed.models.baselines.pose_regressor import PoseRegressor
from sphembed.models.train.fit import fit_and_record, learning_rate_schedule, make_strategy
from sphembed.models.train.run_dir import finish_run

__all__ = ["train_regression", "keypointnet_pairs", "train_keypointnet"]


def train_regression(data_dir, run_dir, latent_dim=1024, base_filters=64, max_filters=256, head_units=(1000, 500),
                     epochs=10, batch_size=32, learning_rate=1e-3, lr_boundaries=(), lr_decay=0.1, warmup_epochs=0,
                     seed=0, strategy="default", split="train", verbose=1):
    """Trains `PoseRegressor` to regress each view's object pose; resumes a killed run in run_dir.

    Args:
      data_dir: dataset directory (`sphembed make-data`), aligned meshes.
      run_dir: run directory (`sphembed.models.train.run_dir`).
      latent_dim, base_filters, max_filters: the image encoder (the embedding network's, up to the bottleneck).
      head_units: hidden sizes of the pose head.
      epochs, batch_size, learning_rate: Adam, global batch size.
      lr_boundaries, lr_decay: the learning rate is multiplied by lr_decay at each boundary (epochs).
      warmup_epochs: epochs trained with the RMSE loss before the geodesic loss (may be fractional).
      seed: seed of the weights and the shuffling.
      strategy: "default", "mirrored" or "multi-worker" (`sphembed.models.train.fit.make_strategy`).
      split: the training split.
      verbose: Keras verbosity (1: progress bar).

    Returns:
      (model, info): the trained PoseRegressor and the run_info dict written to RUN_DIR/run_info.json.
    """
    config = {k: v for k, v in locals().items() if k not in ("data_dir", "run_dir", "verbose")}
    keras.utils.set_random_seed(seed)
    strategy = make_strategy(strategy)
    manifest = read_manifest(data_dir)
    H = W = manifest["image_size"]
    c = manifest["channels"]
    steps = math.ceil(split_count(data_dir, split) / batch_size)
    train = make_dataset(data_dir, split, batch_size=batch_size, shuffle=True, seed=seed,
                         features=("image", "rotation"), repeat=True)
    with strategy.scope():
        model = PoseRegressor(H, c, latent_dim=latent_dim, base_filters=base_filters, max_filters=max_filters,
                              head_units=head_units, warmup_steps=int(round(warmup_epochs * steps)))
        model.build((None, H, W, c))  # resuming (load_weights) needs built models
        model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(learning_rate, lr_boundaries, lr_decay,
                                                                             steps)))
    # The loss changes meaning at the warm-up switch, so the best checkpoint is chosen by the geodesic error.
    history = fit_and_record(model, train, run_dir, epochs, steps_per_epoch=steps, monitor="geodesic_deg", mode="min",
                             verbose=verbose)
    info = finish_run(run_dir, "regression", model, history, data_dir, config, results={"image_shape": [H, W, c]},
                      replicas=strategy.num_replicas_in_sync)
    return model, info


def _pair_arrays(data_dir, split, partners, seed):
    """Images, masks, rotations of a split (numpy, row order of the records) and the IB pairs as row pairs [P, 2]."""
    views = load_split(data_dir, "image", split)
    masks = load_split(data_dir, "mask", split)
    if not np.array_equal(views["index"], masks["index"]):
        raise ValueError(f"images and masks of split {split!r} of {data_dir} were read in different orders")
    rows = pair_rows(views["index"], make_pairs(data_dir, split=split, kind="IB", partners=partners, seed=seed))
    if rows.size == 0:
        raise ValueError(f"split {split!r} of {data_dir} has no pairs of views of one mesh (views_per_mesh >= 2?)")
    return views["image"], masks["mask"], views["rotation"].astype(np.float32), rows


def keypointnet_pairs(images, masks, rotations, rows, batch_size, seed=0):
    """Shuffled, repeated tf.data pair batches for `KeypointNet.fit` from in-memory views.

    The views are held in memory as constants of the input pipeline (ModelNet40 at 64x64: ~0.8 GB); pairs are
    gathered per batch, so every view is stored once however many partners it has.

    Args:
      images: float32 [n, H, W, c]; masks: [n, H, W]; rotations: float32 [n, 3, 3] (object poses).
      rows: int [P, 2], row indices (a, b) of the pairs.
      batch_size: global batch size.
      seed: shuffling seed (reshuffled every epoch).

    Returns:
      tf.data.Dataset of dicts image_a, image_b, mask_a, mask_b, rotation_a, rotation_b.
    """
    images, masks, rotations = (tf.constant(x) for x in (images, masks, rotations))

    def gather(pair):
        return {f"{key}_{view}": tf.gather(values, pair[:, i])
                for key, values in (("image", images), ("mask", masks), ("rotation", rotations))
                for i, view in enumerate("ab")}

    ds = tf.data.Dataset.from_tensor_slices(rows).shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    return ds.repeat().batch(batch_size, drop_remainder=True).map(gather).prefetch(tf.data.AUTOTUNE)


def train_keypointnet(data_dir, run_dir, num_keypoints=10, filters=64, image_size=None, noise=0.1,
                      separation_delta_sq=0.05, loss_weights=None, anneal_fraction=(0.4, 0.5), partners=3, epochs=10,
                      batch_size=24, learning_rate=1e-3, seed=0, strategy="default", split="train", verbose=1):
    """Trains `KeypointNet` on pairs of views of one mesh; resumes a killed run in run_dir.

    Args:
      data_dir: dataset directory (`sphembed make-data`), aligned meshes (front +z: the orientation flag).
      run_dir: run directory (`sphembed.models.train.run_dir`).
      num_keypoints, filters, noise, separation_delta_sq, loss_weights: `KeypointNet` settings.
      image_size: side the images are resized to before the networks (None: the dataset's).
      anneal_fraction: (start, end) fractions of the run over which the orientation flag fed to the keypoint
        network switches from the ground truth to the prediction (the comparison's 120k-150k of 300k steps).
      partners: view pairs per view per epoch (`make_pairs(kind="IB")`).
      epochs, batch_size, learning_rate: Adam, global batch size; an epoch is one pass over the pairs.
      seed, strategy, split, verbose: as in `train_regression`.

    Returns:
      (model, info): the trained KeypointNet and the run_info dict written to RUN_DIR/run_info.json.
    """
    config = {k: v for k, v in locals().items() if k not in ("data_dir", "run_dir", "verbose")}
    keras.utils.set_random_seed(seed)
    strategy = make_strategy(strategy)
    images, masks, rotations, rows = _pair_arrays(data_dir, split, partners, seed)
    if len(rows) < batch_size:
        raise ValueError(f"{len(rows)} training pairs in {data_dir} are fewer than batch_size={batch_size}")
    steps = len(rows) // batch_size
    anneal = tuple(int(round(f * epochs * steps)) for f in anneal_fraction)
    train = keypointnet_pairs(images, masks, rotations, rows, batch_size, seed)
    with strategy.scope():
        model = KeypointNet(num_keypoints=num_keypoints, filters=filters,
                            noise=noise, separation_delta_sq=separation_delta_sq, loss_weights=loss_weights,
                            anneal_steps=(anneal[0], max(anneal[1], anneal[0] + 1)), image_size=image_size,
                            seed=seed)
        model.build((None,) + images.shape[1:])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    history = fit_and_record(model, train, run_dir, epochs, steps_per_epoch=steps, monitor="pose_deg", mode="min",
                             verbose=verbose)
    info = finish_run(run_dir, "keypointnet", model, history, data_dir, config,
                      results={"image_shape": list(images.shape[1:]), "pairs": int(len(rows))},
                      replicas=strategy.num_replicas_in_sync)
    return model, info
