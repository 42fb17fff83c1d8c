"""Pose-baseline training throughput (PoseRegressor, KeypointNet) at demo and paper sizes, next to EmbeddingNet.

Usage: python benchmarks/bench_baselines.py [--steps 5] [--budget 30] [--presets demo paper]
Trains each baseline as train-regression / train-keypointnet do (`sphembed.models.train.baselines`: the preset's
`baselines` sizes, batch size, Adam and the model's own loss, Keras fit on a repeated tf.data dataset of the same
feature dicts) on random inputs (speed does not depend on the values): PoseRegressor on {image, rotation} views,
KeypointNet on {image, mask, rotation}_{a, b} view pairs. Reports the median optimizer step after warm-up as steps/s
and examples/s (views for the regression, pairs for KeypointNet: each pair is two images), the EmbeddingNet train
step of the same preset measured in the same run (`bench_embedding.bench_case`) and the ratio baseline steps/s /
EmbeddingNet steps/s. A case whose steps would take longer than --budget seconds times fewer of them (at least 2; the
"timed" column and the JSON notes say which). Prints a table and writes benchmarks/results/baselines.json.
Epoch sizes (s/epoch): demo = the demo dataset's 768 training views, paper = ModelNet40's 9843 training meshes x 4
views; KeypointNet epochs are the preset's `partners` pairs per view.
"""

import argparse
import math
import time

import keras
import numpy as np
import tensorflow as tf
from scipy.spatial.transform import Rotation

from bench_embedding import bench_case
from common import report
from sphembed.models.baselines.keypointnet import KeypointNet
from sphembed.models.baselines.pose_regressor import PoseRegressor
from sphembed.models.train.fit import learning_rate_schedule
from sphembed.presets import get_preset, stage_config

TRAIN_VIEWS = {"demo": 768, "paper": 9843 * 4}


class _StepTimes(keras.callbacks.Callback):
    """Wall-clock seconds of every optimizer step of a fit (batch begin to batch end, input fetch included)."""

    def __init__(self):
        super().__init__()
        self.seconds, self._start = [], None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _views(rng, batch, size, channels, suffix=""):
    """Random training features of `batch` views, keyed as the datasets of train_baselines name them."""
    return {f"image{suffix}": rng.uniform(size=(batch, size, size, channels)).astype(np.float32),
            f"mask{suffix}": rng.integers(0, 2, size=(batch, size, size)).astype(np.uint8),
            f"rotation{suffix}": Rotation.random(batch, random_state=rng).as_matrix().astype(np.float32)}


def _baseline(preset, name, rng):
    """(compiled model, one batch of its training dict, steps per epoch, examples per step) at the preset's sizes."""
    data = get_preset(preset, "data")
    cfg = stage_config(preset, "baselines", name)  # what train-regression / train-keypointnet run with
    size, channels, batch = data["image_size"], 1 if data["color"] == "gray" else 3, cfg["batch_size"]
    if name == "regression":
        encoder = {key: cfg[key] for key in ("latent_dim", "base_filters", "max_filters") if key in cfg}
        steps = math.ceil(TRAIN_VIEWS[preset] / batch)
        model = PoseRegressor(size, channels, head_units=cfg["head_units"],
                              warmup_steps=int(round(cfg["warmup_epochs"] * steps)), **encoder)
        optimizer = keras.optimizers.Adam(learning_rate_schedule(cfg["learning_rate"], cfg["lr_boundaries"],
                                                                 cfg["lr_decay"], steps))
        inputs = {k: v for k, v in _views(rng, batch, size, channels).items() if k != "mask"}
    else:
        steps = TRAIN_VIEWS[preset] * cfg["partners"] // batch
        run_steps = cfg["epochs"] * steps
        anneal = [int(round(f * run_steps)) for f in cfg["anneal_fraction"]]
        model = KeypointNet(num_keypoints=cfg["num_keypoints"], filters=cfg["filters"], noise=cfg["noise"],
                            separation_delta_sq=cfg["separation_delta_sq"], loss_weights=cfg["loss_weights"],
                            anneal_steps=(anneal[0], max(anneal[1], anneal[0] + 1)), image_size=cfg["image_size"],
                            seed=cfg["seed"])
        optimizer = keras.optimizers.Adam(cfg["learning_rate"])
        inputs = {**_views(rng, batch, size, channels, "_a"), **_views(rng, batch, size, channels, "_b")}
    model.build((None, size, size, channels))
    model.compile(optimizer=optimizer)
    return model, inputs, steps, batch


def _input(model, inputs):
    """The dataset's image shape, and the size the network sees when KeypointNet resizes."""
    shape = "x".join(map(str, next(v for k, v in inputs.items() if k.startswith("image")).shape[1:]))
    size = getattr(model, "image_size", None)
    return shape if size is None else f"{shape} -> {size}x{size}"


def _time_fit(model, inputs, steps, budget):
    """(median seconds per optimizer step, steps timed): Keras fit after 2 warm-up steps (trace + 1), budget-capped."""
    data = tf.data.Dataset.from_tensors(inputs).repeat()
    warmup = _StepTimes()
    model.fit(data, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0, callbacks=[warmup])
    timed = max(2, min(steps, int(budget / warmup.seconds[-1])))
    timer = _StepTimes()
    model.fit(data, epochs=1, steps_per_epoch=timed, shuffle=False, verbose=0, callbacks=[timer])
    return float(np.median(timer.seconds)), timed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5,
                        help="timed optimizer steps per case (median reported; default 5)")
    parser.add_argument("--budget", type=float, default=30.0,
                        help="seconds of timed steps per case; slower cases time fewer steps (default 30)")
    parser.add_argument("--presets", nargs="+", default=["demo", "paper"], help="presets to measure")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows, reduced = [], []
    for preset in args.presets:
        reference = bench_case(preset, "embedding", args.steps, rng)["steps/s"]
        for name in ("regression", "keypointnet"):
            keras.utils.set_random_seed(0)
            model, inputs, steps_per_epoch, batch = _baseline(preset, name, rng)
            seconds, timed = _time_fit(model, inputs, args.steps, args.budget)
            if timed < args.steps:
                reduced.append(f"{preset} {type(model).__name__}: {timed} steps")
            rows.append({"preset": preset, "network": type(model).__name__,
                         "input": _input(model, inputs),
                         "parameters": int(model.count_params()), "batch": batch, "timed": timed,
                         "steps/s": 1 / seconds, "examples/s": batch / seconds,
                         "EmbeddingNet steps/s": reference, "ratio": 1 / seconds / reference,
                         "steps/epoch": steps_per_epoch, "s/epoch": steps_per_epoch * seconds})
    report("baselines", rows, ["preset", "network", "input", "parameters", "batch", "timed", "steps/s", "examples/s",
                               "EmbeddingNet steps/s", "ratio", "steps/epoch", "s/epoch"],
           notes=f"float32, CPU (TensorFlow default threads), Keras fit on random data, median of {args.steps} timed "
                 "steps after 2 warm-up steps"
                 + (f" ({'; '.join(reduced)} timed: over the {args.budget:g} s budget)" if reduced else "")
                 + "; examples = views (PoseRegressor) or view pairs (KeypointNet, batch = pairs). Reference: the "
                 "EmbeddingNet train step of the same preset (train_on_batch, as bench_embedding), measured in this "
                 "run; ratio = baseline steps/s / EmbeddingNet steps/s. s/epoch with epoch sizes "
                 + str(TRAIN_VIEWS) + " views (KeypointNet: x partners pairs).")


if __name__ == "__main__":
    main()
