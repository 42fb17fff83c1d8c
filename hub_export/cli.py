"""`sphembed export-hub`: write a trained model as a TF-Hub reusable SavedModel.

Models are looked up in EXPORTERS: name -> (dotted function path, description). The function takes
(checkpoint, out, endpoints=None) and writes the module; adding a model (embedding, pose, synthesis) is one entry.
TensorFlow is imported only when the command runs.
"""

import importlib

__all__ = ["EXPORTERS", "register", "run"]

EXPORTERS = {
    "sphcnn": ("sphembed.hub_export.sphcnn:export_from_checkpoint",
               "SphericalCNN checkpoint (train-sphcnn's best.keras) -> module returning the dict of bottleneck "
               "endpoints {block1, block2, ...}; signatures serving_default and classify"),
    "pose": ("sphembed.pose.serving:export_pose_from_checkpoint",
             "embedding model (train-embedding's best.keras, or an exported embedding module) -> module whose "
             "serving_default(image_a, image_b) returns {rotation [b, 3, 3] = R_b R_a^T, euler_zyz [b, 3], score [b]}"),
    "embedding": ("sphembed.hub_export.embedding:export_embedding_from_checkpoint",
                  "EmbeddingNet (train-embedding's embedding.keras or run directory) -> module images [b, H, W, c] "
                  "-> {embedding [b, 2b, 2b, C]}"),
    "synthesis": ("sphembed.synthesis.serving:export_synthesis_from_checkpoint",
                  "train-synthesis run directory (or its synthesizer.keras) -> module whose serving_default(image, "
                  "rotation [b, 3, 3]) returns {image}: the object rotated by R; signature embed(image)"),
}
# Image modules (pose, embedding, synthesis) serve each signature for float32 images in [0, 1] and, as <name>_uint8
# (serving_default -> serving_uint8), for uint8 0-255 images, of any size and 1 or 3 channels.


def register(subparsers):
    models = "; ".join(f"{name}: {text}" for name, (_, text) in EXPORTERS.items())
    p = subparsers.add_parser("export-hub", help="export a trained model as a TF-Hub reusable SavedModel",
                              description=__doc__.splitlines()[0] + f" Models: {models}. The image modules (pose, "
                              "embedding, synthesis) serve float32 images in [0, 1] and, in the <name>_uint8 "
                              "signatures (serving_uint8, embed_uint8), uint8 0-255 images, of any size and 1 or 3 "
                              "channels: converted in the graph to the trained size and channels; out-of-range or "
                              "non-finite values raise InvalidArgumentError naming the input.")
    p.add_argument("--model", required=True, choices=sorted(EXPORTERS), help="which model the checkpoint holds")
    p.add_argument("--checkpoint", required=True, help="trained model: a .keras file (e.g. RUN_DIR/best.keras) or, for "
                   "embedding, pose and synthesis, a run directory (`sphembed.models.train.run_dir`)")
    p.add_argument("--out", required=True, help="output directory of the SavedModel (overwritten)")
    p.add_argument("--endpoints", nargs="*", help="only these outputs (default: all)")
    p.add_argument("--preset", default="demo", choices=("demo", "paper"),
                   help="pose module: the preset whose pose section gives the search bandwidth B' (default demo)")
    p.add_argument("--out-bandwidth", type=int, default=None, metavar="B'",
                   help="pose module: bandwidth of the SO(3) search grid (default: the preset's)")
    p.set_defaults(func=run)


def run(args):
    import os

    module_name, func = EXPORTERS[args.model][0].split(":")
    if not os.path.exists(args.checkpoint):
        raise FileNotFoundError(f"--checkpoint {args.checkpoint} does not exist")
    if args.model != "pose" and (args.out_bandwidth is not None or args.preset != "demo"):
        raise SystemExit(f"export-hub: --preset and --out-bandwidth apply to --model pose, not {args.model}")
    options = dict(preset=args.preset, out_bandwidth=args.out_bandwidth) if args.model == "pose" else {}
    getattr(importlib.import_module(module_name), func)(args.checkpoint, args.out, endpoints=args.endpoints, **options)
    import tensorflow as tf

    # Every signature's inputs and outputs (modules may take several inputs, e.g. pose and synthesis; image modules
    # serve float32 and uint8 images of any size, `sphembed.hub_export.image_inputs`).
    print(f"export-hub: wrote {args.model} module to {args.out}; signatures:")
    for name, fn in tf.saved_model.load(args.out).signatures.items():
        inputs = ", ".join(f"{key} {spec.dtype.name} {spec.shape.as_list()}"
                           for key, spec in sorted(fn.structured_input_signature[1].items()))
        outputs = ", ".join(f"{key} {spec.shape.as_list()}" for key, spec in sorted(fn.structured_outputs.items()))
        print(f"  {name}({inputs}) -> {outputs}")
    return 0
