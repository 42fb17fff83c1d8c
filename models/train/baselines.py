"""Training the two baselines of the paper's pose table (issue 8): `sphembed train-regression` and
`sphembed train-keypointnet`, and their relative-pose methods "regression" and "keypointnet" for `sphembed eval-pose`.

Both train on the same datasets as the embedding (`sphembed make-data`) and are evaluated by the same protocol:

  regression   `PoseRegressor` on single views: image -> the view's object pose R (needs aligned meshes: the
               procedural categories and the development meshes are aligned); relative pose R̂_b R̂_aᵀ.
  keypointnet  `KeypointNet` on view pairs of one mesh (the "IB" pairs of `sphembed.data.pairs.make_pairs` on the
               training split, `partners` per view) with their relative pose R_b R_aᵀ; silhouettes from the
               dataset's masks; relative pose = Procrustes of the two keypoint sets.

A run directory holds the standard files of `sphembed.models.train.fit` (TensorBoard logs, best/last .keras, backup
for resuming, history.json) plus the final model (`regression.keras` / `keypointnet.keras`) and `<name>_info.json`
(data, sizes, training seconds, last metrics). `--model` of eval-pose takes either the .keras file or the run directory.
Learning-rate boundaries, the RMSE warm-up and the orientation-flag anneal are given in epochs or fractions of the
run, so a preset fits any dataset size. No TensorFlow import at module level (the command line stays fast).
"""

import json
import math
import os

from sphembed.pose.methods import register_method, traced_method

__all__ = ["train_regression", "keypointnet_pairs", "train_keypointnet", "load_baseline", "register",
           "run_regression", "run_keypointnet"]

MODEL_FILES = {"regression": "regression.keras", "keypointnet": "keypointnet.keras"}


def _schedule(learning_rate, lr_boundaries, lr_decay, steps_per_epoch):
    from sphembed.models.train.fit import piecewise_schedule

    values = [learning_rate * lr_decay**i for i in range(len(lr_boundaries) + 1)]
    return piecewise_schedule(lr_boundaries, values, steps_per_epoch)


def _finish(model, history, run_dir, name, info):
    """Saves RUN_DIR/<name>.keras and RUN_DIR/<name>_info.json (info + last epoch's metrics); returns the info."""
    model.save(os.path.join(run_dir, MODEL_FILES[name]))
    epochs = history["epochs"]
    info = {**info, "config": model.get_config(), "train_seconds": history.get("total_seconds"),
            "epochs": len(epochs), "steps_per_epoch": history.get("steps_per_epoch"),
            "last_epoch": epochs[-1] if epochs else {}}
    with open(os.path.join(run_dir, f"{name}_info.json"), "w") as fh:
        json.dump(info, fh, indent=2, default=str)
    return info


def train_regression(data_dir, run_dir, latent_dim=1024, base_filters=64, max_filters=256, head_units=(1000, 500),
                     epochs=10, batch_size=32, learning_rate=1e-3, lr_boundaries=(), lr_decay=0.1, warmup_epochs=0,
                     seed=0, strategy="default", split="train", verbose=1):
    """Trains `PoseRegressor` to regress each view's object pose; resumes a killed run in run_dir.

    Args:
      data_dir: dataset directory (`sphembed make-data`), aligned meshes.
      run_dir: run directory (module docstring).
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
      (model, info): the trained PoseRegressor and the dict written to RUN_DIR/regression_info.json.
    """
    import keras

    from sphembed.data.records import make_dataset, read_manifest
    from sphembed.models.baselines.pose_regressor import PoseRegressor
    from sphembed.data.splits import split_count
    from sphembed.models.train.fit import fit_and_record, make_strategy

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
        model.compile(optimizer=keras.optimizers.Adam(_schedule(learning_rate, lr_boundaries, lr_decay, steps)))
    # The loss changes meaning at the warm-up switch, so the best checkpoint is chosen by the geodesic error.
    history = fit_and_record(model, train, run_dir, epochs, steps_per_epoch=steps, monitor="geodesic_deg", mode="min",
                             verbose=verbose)
    info = _finish(model, history, run_dir, "regression", {"data_dir": os.path.abspath(data_dir),
                                                            "image_shape": [H, W, c], "steps_per_epoch": steps})
    return model, info


def _pair_arrays(data_dir, split, partners, seed):
    """Images, masks, rotations of a split (numpy, row order of the records) and the IB pairs as row pairs [P, 2]."""
    import numpy as np

    from sphembed.data.pairs import make_pairs, pair_rows
    from sphembed.data.splits import load_split

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
    import tensorflow as tf

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
      run_dir: run directory (module docstring).
      num_keypoints, filters, noise, separation_delta_sq, loss_weights: `KeypointNet` settings.
      image_size: side the images are resized to before the networks (None: the dataset's).
      anneal_fraction: (start, end) fractions of the run over which the orientation flag fed to the keypoint
        network switches from the ground truth to the prediction (the comparison's 120k-150k of 300k steps).
      partners: view pairs per view per epoch (`make_pairs(kind="IB")`).
      epochs, batch_size, learning_rate: Adam, global batch size; an epoch is one pass over the pairs.
      seed, strategy, split, verbose: as in `train_regression`.

    Returns:
      (model, info): the trained KeypointNet and the dict written to RUN_DIR/keypointnet_info.json.
    """
    import keras

    from sphembed.models.baselines.keypointnet import KeypointNet
    from sphembed.models.train.fit import fit_and_record, make_strategy

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
    info = _finish(model, history, run_dir, "keypointnet", {
        "data_dir": os.path.abspath(data_dir), "image_shape": list(images.shape[1:]), "pairs": int(len(rows)),
        "steps_per_epoch": steps})
    return model, info


def load_baseline(path, name):
    """A trained baseline from a .keras file or a run directory (its regression.keras / keypointnet.keras).

    Raises:
      ValueError: unknown name, or no model at path.
    """
    import keras

    import sphembed.models.baselines.keypointnet  # noqa: F401  (registers the classes for deserialization)
    import sphembed.models.baselines.pose_regressor  # noqa: F401

    if name not in MODEL_FILES:
        raise ValueError(f"baseline must be one of {sorted(MODEL_FILES)}, got {name!r}")
    if os.path.isdir(path):
        path = os.path.join(path, MODEL_FILES[name])
    if not os.path.isfile(path):
        raise ValueError(f"no {name} model at {path!r} (a .keras file or a train-{name} run directory)")
    return keras.saving.load_model(path, compile=False)


def _baseline_method(name, model):
    if model is None:
        raise ValueError(f"method {name!r} needs --model (a .keras file or a train-{name} run directory)")
    net = load_baseline(model, name) if isinstance(model, str) else model
    return traced_method(net.relative_pose)


@register_method("regression", feature="image")
def _make_regression(model=None, out_bandwidth=None, refine=True):
    """Pose regression: R̂_ab = R̂_b R̂_aᵀ from the regressed orientations (correlation options unused)."""
    return _baseline_method("regression", model)


@register_method("keypointnet", feature="image")
def _make_keypointnet(model=None, out_bandwidth=None, refine=True):
    """KeypointNet: Procrustes rotation of the two views' keypoints (correlation options unused)."""
    return _baseline_method("keypointnet", model)


# --- command line -------------------------------------------------------------------------------------------------


def _common_flags(p, name, schedule):
    from sphembed.models.train.flags import add_fit_arguments

    p.add_argument("--data", required=True, metavar="DIR", help="dataset directory from make-data (aligned meshes)")
    p.add_argument("--run-dir", required=True, metavar="DIR", help="output directory of the run")
    p.add_argument("--preset", default="demo",
                   help=f"preset whose 'baselines' section ({name}) gives the defaults (demo, paper)")
    add_fit_arguments(p, schedule)


def register(subparsers):
    r = subparsers.add_parser(
        "train-regression", help="train the pose-regression baseline (image -> canonical orientation)",
        description="Trains PoseRegressor (the embedding's image encoder up to the bottleneck + a pose head, 6D "
        "output mapped to SO(3)) to regress each view's object pose: RMSE loss for --warmup-epochs, then the "
        "geodesic loss. Needs aligned meshes. Writes TensorBoard logs, checkpoints, history.json, regression.keras "
        "and regression_info.json into --run-dir; rerunning the same command resumes an interrupted run. "
        "Evaluate with: sphembed eval-pose --method regression --model RUN_DIR.")
    _common_flags(r, "regression", schedule=True)
    r.add_argument("--warmup-epochs", type=float, default=None,
                   help="epochs of RMSE loss before the geodesic loss (preset)")
    r.add_argument("--latent-dim", type=int, default=None,
                   help="encoder bottleneck size (preset; default: the preset's embedding latent_dim)")
    r.add_argument("--base-filters", type=int, default=None,
                   help="channels of the first encoder stage (preset; default: the embedding's)")
    r.add_argument("--max-filters", type=int, default=None,
                   help="encoder channel cap (preset; default: the embedding's)")
    r.add_argument("--head-units", type=int, nargs="+", default=None, metavar="UNITS",
                   help="hidden sizes of the pose head (preset; Mahendran et al.: 1000 500)")
    r.set_defaults(func=run_regression)

    k = subparsers.add_parser(
        "train-keypointnet", help="train the KeypointNet baseline on view pairs of one mesh",
        description="Trains KeypointNet (dilated fully convolutional keypoint network + orientation network) on "
        "pairs of views of one mesh with their relative pose: multi-view consistency, Procrustes pose (with "
        "Gaussian noise), separation, silhouette, variance and orientation losses. Writes TensorBoard logs, "
        "checkpoints, history.json, keypointnet.keras and keypointnet_info.json into --run-dir; rerunning the same "
        "command resumes an interrupted run. Evaluate with: sphembed eval-pose --method keypointnet --model RUN_DIR.")
    _common_flags(k, "keypointnet", schedule=False)
    k.add_argument("--num-keypoints", type=int, default=None, help="number of keypoints N (preset; paper 10)")
    k.add_argument("--filters", type=int, default=None,
                   help="channels of the keypoint network; the orientation network has half (preset; paper 64)")
    k.add_argument("--image-size", type=int, default=None,
                   help="side the images are resized to before the networks (preset; 0: the dataset's size)")
    k.add_argument("--noise", type=float, default=None,
                   help="std of the Gaussian noise on the keypoints in the pose loss (preset; paper 0.1)")
    k.add_argument("--partners", type=int, default=None, help="view pairs per view per epoch (preset)")
    k.set_defaults(func=run_keypointnet)


def _config(args, name):
    """The preset's baselines.<name> settings with the given flags applied (flags named like the keys)."""
    from sphembed.presets import get_preset

    cfg = get_preset(args.preset, "baselines")[name]
    for key in cfg:
        value = getattr(args, key, None)
        if value is not None:
            cfg[key] = value
    return cfg


def _check_data(args, command):
    if not os.path.isdir(args.data):
        raise SystemExit(f"{command}: --data {args.data!r} is not a directory")


def run_regression(args):
    from sphembed.presets import get_preset

    _check_data(args, "train-regression")
    cfg = _config(args, "regression")
    embedding = get_preset(args.preset, "embedding")
    for key in ("latent_dim", "base_filters", "max_filters"):  # the same encoder as the embedding by default
        if cfg[key] is None and embedding.get("architecture") == "encoder-decoder":
            cfg[key] = embedding[key]
        if cfg[key] is None:  # the embedding has no such encoder: train_regression's default
            del cfg[key]
    _, info = train_regression(args.data, args.run_dir, strategy=args.strategy, verbose=args.verbose, **cfg)
    last = info["last_epoch"]
    print(f"train-regression: {args.run_dir}/regression.keras (training geodesic error "
          f"{last.get('geodesic_deg', float('nan')):.1f} deg, {info['train_seconds']:.0f} s)")
    return 0


def run_keypointnet(args):
    _check_data(args, "train-keypointnet")
    cfg = _config(args, "keypointnet")
    if cfg["image_size"] == 0:
        cfg["image_size"] = None
    _, info = train_keypointnet(args.data, args.run_dir, strategy=args.strategy, verbose=args.verbose, **cfg)
    last = info["last_epoch"]
    print(f"train-keypointnet: {args.run_dir}/keypointnet.keras (training pose error "
          f"{last.get('pose_deg', float('nan')):.1f} deg, {info['train_seconds']:.0f} s)")
    return 0
