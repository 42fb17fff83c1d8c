"""SphericalCNN training speed: optimizer steps/s and seconds per epoch at the demo and paper preset sizes.

Usage: python benchmarks/bench_sphcnn.py [--steps 10] [--presets demo paper]
Trains on random sphere maps (speed does not depend on the values) with the preset's architecture, batch size
and Adam, through Keras fit (the path train-sphcnn uses). Prints a table and writes benchmarks/results/sphcnn.json.
Epoch sizes: demo = the demo dataset's train split (8 categories x 24 meshes x 4 views = 768 examples),
paper = ModelNet40's 9843 training meshes (one rotated copy each).
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from common import report
from sphembed.models.train.sphcnn import build_from_config
from sphembed.presets import get_preset

EPOCH_EXAMPLES = {"demo": 768, "paper": 9843}
NUM_CLASSES = {"demo": 8, "paper": 40}


def _bench(preset, steps):
    cfg = get_preset(preset, "sphcnn")
    B, batch = cfg["input_bandwidth"], cfg["batch_size"]
    keras.utils.set_random_seed(0)
    model = build_from_config(cfg, num_classes=NUM_CLASSES[preset])
    model.compile(optimizer=keras.optimizers.Adam(cfg["learning_rate"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, 2 * B, 2 * B, 2)).astype("float32")
    y = rng.integers(0, NUM_CLASSES[preset], size=batch).astype("int32")
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(data, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)  # trace + warm up
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    seconds = (time.perf_counter() - start) / steps
    steps_per_epoch = EPOCH_EXAMPLES[preset] // batch
    return {"preset": preset, "input 2B": 2 * B, "batch": batch, "parameters": int(model.count_params()),
            "endpoints": sum(layer.name.endswith("_bottleneck") for layer in model.layers),
            "steps/s": 1.0 / seconds, "examples/s": batch / seconds, "steps/epoch": steps_per_epoch,
            "s/epoch": steps_per_epoch * seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per preset (default 10)")
    parser.add_argument("--presets", nargs="+", default=["demo", "paper"], help="presets to measure")
    args = parser.parse_args(argv)
    rows = [_bench(p, args.steps) for p in args.presets]
    report("sphcnn", rows, ["preset", "input 2B", "batch", "parameters", "endpoints", "steps/s", "examples/s",
                            "steps/epoch", "s/epoch"],
           notes=f"Keras fit, float32, CPU threads: TensorFlow default, {args.steps} timed steps after warm-up; "
                 "s/epoch = steps/epoch / steps/s with epoch sizes " + str(EPOCH_EXAMPLES) + ".")


if __name__ == "__main__":
    main()
