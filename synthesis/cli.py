"""`sphembed train-synthesis`, `sphembed synthesize` and `sphembed eval-synthesis`.

No TensorFlow import at module level (the command line stays fast); `run_*` import what they need.
Rotation tokens of `synthesize --rotations`: "turntable:N" (N rotations about the vertical axis), "tumble:N" (N
frames of a closed 3D tumble), "euler:ALPHA,BETA,GAMMA" (one rotation Rz(alpha) Ry(beta) Rz(gamma), degrees).
"""

import json
import os

from sphembed.models.train.flags import add_run_dir_argument, add_training_arguments
from sphembed.presets import config_from_args
from sphembed.synthesis.visualize import image_grid, save_gif, save_png

__all__ = ["register", "parse_rotations", "run_train", "run_synthesize", "run_eval"]


def parse_rotations(tokens):
    """Rotation tokens (module docstring) -> float32 [n, 3, 3].

    Raises:
      ValueError: naming the token that does not parse.
    """
    import numpy as np

    from sphembed.synthesis.rotate import tumble_rotations, turntable_rotations

    out = []
    for token in tokens:
        kind, _, value = token.partition(":")
        try:
            if kind == "turntable":
                out.append(turntable_rotations(int(value)))
            elif kind == "tumble":
                out.append(tumble_rotations(int(value)))
            elif kind == "euler":
                from scipy.spatial.transform import Rotation

                angles = [float(v) for v in value.split(",")]
                if len(angles) != 3:
                    raise ValueError("three angles")
                out.append(Rotation.from_euler("ZYZ", angles, degrees=True).as_matrix()[None].astype(np.float32))
            else:
                raise ValueError("unknown kind")
        except ValueError as err:
            raise ValueError(f"rotation {token!r} is not turntable:N, tumble:N or euler:ALPHA,BETA,GAMMA ({err})")
    return np.concatenate(out)


def register(subparsers):
    t = subparsers.add_parser(
        "train-synthesis", help="train the Synthesizer (spherical embedding -> image) for novel views",
        description="Trains G with an L1 pixel loss to decode embeddings of single views back to the views: "
        "embeddings predicted by an EmbeddingNet trained on the synthesis endpoint (--source predicted; one is "
        "trained into RUN_DIR/embedding when --embedding-model is not given) or the spherical-CNN targets "
        "(--source targets). Writes RUN_DIR/synthesizer.keras and run_info.json; resumes interrupted runs.")
    add_training_arguments(t, "synthesis")
    t.add_argument("--embedding-model", default=None, metavar="PATH",
                   help="EmbeddingNet trained on the synthesis endpoint (.keras or train-embedding run directory); "
                   "default: train one into RUN_DIR/embedding")
    t.add_argument("--target-endpoint", default=None, metavar="NAME",
                   help="spherical-CNN endpoint of the embeddings (preset synthesis.target_endpoint)")
    t.add_argument("--source", choices=("predicted", "targets"), default=None,
                   help="synthesizer inputs: EmbeddingNet predictions or spherical-CNN targets (preset)")
    t.add_argument("--embedding-epochs", type=int, default=None,
                   help="epochs of the EmbeddingNet trained when --embedding-model is not given (preset)")
    t.set_defaults(func=run_train)

    s = subparsers.add_parser(
        "synthesize", help="novel views of one image: a PNG grid and turntable / 3D-tumble GIFs",
        description="Embeds the image, rotates the embedding exactly (Wigner-D) and decodes it. Writes OUT/grid.png "
        "(the input, then one view per --rotations entry), OUT/turntable.gif and OUT/tumble.gif.")
    add_run_dir_argument(s, "train-synthesis run directory (or its synthesizer.keras)", old="--run")
    source = s.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", metavar="PATH", help="input image file (any format pillow reads; resized)")
    source.add_argument("--data", metavar="DIR", help="take the input from this dataset (with --index)")
    s.add_argument("--index", type=int, default=0, help="example index in --data (default 0)")
    s.add_argument("--split", default="test", help="split of --data (default test)")
    s.add_argument("--rotations", nargs="+", default=["turntable:8"], metavar="TOKEN",
                   help="views of the grid: turntable:N, tumble:N, euler:ALPHA,BETA,GAMMA (degrees, ZYZ)")
    s.add_argument("--frames", type=int, default=36, help="frames of each GIF (default 36)")
    s.add_argument("--scale", type=int, default=3, help="integer upscaling of the GIF frames (default 3)")
    s.add_argument("--out", required=True, metavar="DIR", help="output directory")
    s.set_defaults(func=run_synthesize)

    e = subparsers.add_parser(
        "eval-synthesis", help="PSNR / SSIM / silhouette IoU of synthesized views on held-out meshes, per category",
        description="Synthesizes view b of each held-out view pair (a, b) of one mesh from view a and R_b R_a^T and "
        "compares it with the rendered view, next to the baseline that returns view a. Writes "
        "synthesis_eval.json, synthesis_report.md and PNG grids into --out.")
    add_run_dir_argument(e, "train-synthesis run directory", old="--run")
    e.add_argument("--data", required=True, metavar="DIR", help="dataset directory from make-data")
    e.add_argument("--split", default="test", help="held-out split (default test)")
    e.add_argument("--partners", type=int, default=3, help="view pairs per view (default 3)")
    e.add_argument("--seed", type=int, default=0, help="seed of the pair lists (default 0)")
    e.add_argument("--no-oracle", action="store_true",
                   help="skip the oracle row (synthesis from the spherical-CNN targets of the run's module)")
    e.add_argument("--out", required=True, metavar="DIR", help="output directory of the report")
    e.set_defaults(func=run_eval)


def run_train(args):
    from sphembed.synthesis.train import train_synthesis

    cfg = config_from_args(args, "synthesis")  # with the EmbeddingNet trained when none is given (embedding_config)
    if not os.path.isdir(args.data):
        raise SystemExit(f"train-synthesis: --data {args.data!r} is not a directory")
    _, info = train_synthesis(args.data, args.module, args.run_dir, embedding_model=args.embedding_model,
                              strategy=args.strategy, verbose=args.verbose, **cfg)
    cfg = info["config"]
    print(f"train-synthesis: {os.path.join(args.run_dir, info['model'])} (endpoint {cfg['target_endpoint']}, "
          f"source {cfg['source']}, val L1 {info['results']['val_l1']:.4g})")
    return 0


def _load_image(path, shape):
    import numpy as np
    from PIL import Image

    H, W, c = shape
    with Image.open(path) as im:
        im = im.convert("L" if c == 1 else "RGB").resize((W, H), Image.BILINEAR)
        x = np.asarray(im, np.float32) / 255.0
    return x.reshape(1, H, W, c)


def run_synthesize(args):
    import numpy as np

    from sphembed.synthesis.novel_view import novel_views
    from sphembed.synthesis.rotate import tumble_rotations, turntable_rotations
    from sphembed.synthesis.train import load_synthesis_run

    try:
        rotations = parse_rotations(args.rotations)
    except ValueError as err:
        raise SystemExit(f"synthesize: --rotations: {err}")
    E, G, _ = load_synthesis_run(args.run_dir)
    shape = tuple(E.input_shape[1:])
    if args.image:
        if not os.path.isfile(args.image):
            raise SystemExit(f"synthesize: --image {args.image!r} does not exist")
        image = _load_image(args.image, shape)
    else:
        from sphembed.data.splits import load_split

        data = load_split(args.data, "image", args.split)
        rows = np.flatnonzero(data["index"] == args.index)
        if not len(rows):
            raise SystemExit(f"synthesize: --index {args.index} is not in split {args.split!r} of {args.data}")
        image = data["image"][rows[:1]].astype(np.float32)
    views = novel_views(image, rotations, E, G).numpy()[0]
    os.makedirs(args.out, exist_ok=True)
    grid = np.concatenate([image, np.clip(views, 0, 1)])[None]
    save_png(image_grid(grid), os.path.join(args.out, "grid.png"))
    for name, path in (("turntable", turntable_rotations), ("tumble", tumble_rotations)):
        frames = novel_views(image, path(args.frames), E, G).numpy()[0]
        save_gif(frames, os.path.join(args.out, f"{name}.gif"), scale=args.scale)
    print(f"synthesize: wrote {args.out}/grid.png ({len(rotations)} views), turntable.gif and tumble.gif "
          f"({args.frames} frames)")
    return 0


def run_eval(args):
    import numpy as np

    from sphembed.synthesis.evaluate import evaluate_synthesis, write_report
    from sphembed.synthesis.novel_view import novel_views
    from sphembed.synthesis.rotate import turntable_rotations
    from sphembed.synthesis.train import load_synthesis_run

    from sphembed.models.train.targets import target_dataset

    E, G, info = load_synthesis_run(args.run_dir)
    module, endpoint = info["inputs"].get("module"), info["config"]["target_endpoint"]
    targets = None
    if not args.no_oracle:
        if not os.path.isdir(module or ""):
            raise SystemExit(f"eval-synthesis: the run's spherical-CNN module {module!r} is missing; "
                             "pass --no-oracle to skip the oracle row")
        ds, _ = target_dataset(args.data, args.split, module, endpoint)
        targets = np.stack([t.numpy() for t in ds])
    results, examples = evaluate_synthesis(E, G, args.data, args.split, partners=args.partners, seed=args.seed,
                                           targets=targets)
    results["model"] = {"target_endpoint": endpoint, "source": info["config"]["source"],
                        "embedding_model": info["inputs"]["embedding_model"],
                        "synthesizer": os.path.join(os.path.abspath(args.run_dir), info["model"])}
    inputs = np.stack([grid[0, 0] for grid in examples.values()])  # one input view per category
    turntable = novel_views(inputs, turntable_rotations(8), E, G).numpy()
    grids = {"turntable": np.concatenate([inputs[:, None], np.clip(turntable, 0, 1)], axis=1)}
    path = write_report(results, examples, args.out, grids)
    with open(os.path.join(args.out, "synthesis_eval.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    overall = results["per_category"]["all"]
    print(f"eval-synthesis: PSNR {overall['synthesized']['psnr']:.2f} dB vs baseline "
          f"{overall['input view (baseline)']['psnr']:.2f}; SSIM {overall['synthesized']['ssim']:.3f} vs "
          f"{overall['input view (baseline)']['ssim']:.3f}; IoU {overall['synthesized']['iou']:.3f} vs "
          f"{overall['input view (baseline)']['iou']:.3f} -> {path}")
    return 0
