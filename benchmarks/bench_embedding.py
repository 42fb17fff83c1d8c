"""EmbeddingNet / Synthesizer training throughput at demo and paper sizes, plus the learned-equivariance evaluation.

Usage: python benchmarks/bench_embedding.py [--steps 5] [--run RUN --data DIR [--module DIR]]
Prints a table of train steps/s and examples/s (random inputs, Adam, one tf.function train step per batch, sizes
from presets.py) and writes benchmarks/results/embedding.json. With --run (a train-embedding run directory) and
--data, the JSON also holds `sphembed.models.train.embedding_eval.evaluate_embedding` on the held-out split: validation
Huber loss and relative error, and the equivariance error of E(I_b) vs Lambda_{R_b R_a^T} E(I_a) per category next to
a randomly initialized network and the spherical-CNN targets; without --run, an evaluation already in the JSON (it
names its run directory) is kept.
"""

import argparse
import json
import os

import keras
import numpy as np

from common import report, time_call
from sphembed.models.nets.encoder_decoder import EmbeddingNet, Synthesizer
from sphembed.models.losses import AreaWeightedHuber
from sphembed.presets import get_preset

# Endpoint shapes [2b, 2b, C] of the presets' spherical CNNs (sphcnn stages; bottleneck = channels / 4).
ENDPOINT_SHAPES = {"demo": {"block3": (8, 8, 32), "block2": (16, 16, 16)},
                   "paper": {"block6": (16, 16, 64), "block4": (32, 32, 32)}}


def _case(preset, net):
    data = get_preset(preset, "data")
    cfg = get_preset(preset, net)
    size, channels = data["image_size"], 1 if data["color"] == "gray" else 3
    target = ENDPOINT_SHAPES[preset][cfg["target_endpoint"]]
    sizes = dict(latent_dim=cfg["latent_dim"], base_filters=cfg["base_filters"], max_filters=cfg["max_filters"])
    if net == "embedding":
        model = EmbeddingNet(size, channels, target[0] // 2, target[-1], **sizes)
        shapes, loss = ((size, size, channels), target), AreaWeightedHuber()
    else:
        model = Synthesizer(target[0] // 2, target[-1], size, channels, **sizes)
        shapes, loss = (target, (size, size, channels)), keras.losses.MeanAbsoluteError()
    return model, shapes, loss, cfg["batch_size"]


def bench_case(preset, net, steps, rng):
    """Table row of one case ("embedding" or "synthesis" at a preset): median train_on_batch time over `steps`.

    Also the reference of bench_baselines (the EmbeddingNet train step at the baselines' preset).
    """
    model, (in_shape, out_shape), loss, batch = _case(preset, net)
    model.compile(optimizer="adam", loss=loss)
    x = rng.uniform(size=(batch, *in_shape)).astype(np.float32)
    y = rng.uniform(size=(batch, *out_shape)).astype(np.float32)
    seconds = time_call(lambda: model.train_on_batch(x, y), repeats=steps, warmup=2)
    return {"preset": preset, "network": type(model).__name__, "input": "x".join(map(str, in_shape)),
            "output": "x".join(map(str, out_shape)), "parameters": int(model.count_params()), "batch": batch,
            "steps/s": 1 / seconds, "examples/s": batch / seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed train steps per case (median reported)")
    parser.add_argument("--run", default=None, help="train-embedding run directory to evaluate (optional)")
    parser.add_argument("--data", default=None, help="dataset directory for the evaluation (with --run)")
    parser.add_argument("--module", default=None, help="spherical-CNN module (default: the run's)")
    args = parser.parse_args(argv)
    previous = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "embedding.json")
    kept = None  # without --run, the evaluation of an earlier run (it names its run) is carried over
    if not args.run and os.path.isfile(previous):
        with open(previous) as fh:
            kept = json.load(fh).get("evaluation")
    rng = np.random.default_rng(0)
    rows = [bench_case(preset, net, args.steps, rng) for preset in ("demo", "paper")
            for net in ("embedding", "synthesis")]
    path = report("embedding", rows, ["preset", "network", "input", "output", "parameters", "batch", "steps/s",
                                      "examples/s"],
                  notes="float32, CPU (TensorFlow default threads), Adam, train_on_batch on random data; sizes "
                        "from presets.py (paper: 1024-d latent, 64 -> 256 channels).")
    if kept is not None:
        with open(path) as fh:
            record = json.load(fh)
        record["evaluation"] = kept
        with open(path, "w") as fh:
            json.dump(record, fh, indent=2)
    if args.run:
        from sphembed.models.train.embedding_eval import evaluate_embedding
        from sphembed.models.train.run_dir import load_run, read_run_info

        info = read_run_info(args.run)
        module = args.module or info["inputs"]["module"]
        result = evaluate_embedding(load_run(args.run, stage="embedding"), args.data or info["data_dir"], module,
                                    info["config"]["target_endpoint"])
        with open(path) as fh:
            record = json.load(fh)
        record["evaluation"] = result
        record["evaluation"]["run"] = os.path.abspath(args.run)
        with open(path, "w") as fh:
            json.dump(record, fh, indent=2)
        print("| category | trained | random init | targets | pairs |\n|---|---|---|---|---|")
        for cat, v in result["equivariance"].items():
            print(f"| {cat} | {v['trained']:.3f} | {v['random_init']:.3f} | {v['targets']:.3f} | {v['pairs']} |")
        print(f"\nvalidation Huber {result['huber']:.4f}, relative error {result['relative_error']:.4f}")


if __name__ == "__main__":
    main()
