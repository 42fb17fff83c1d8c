"""`sphembed make-data`: TFRecord datasets (views, sphere maps, rotations) from procedural shapes or mesh folders.

No TensorFlow import (the command line stays fast).
"""

import os

from sphembed.data.make_data import build_dataset
from sphembed.presets import config_from_args

__all__ = ["register", "run"]


def _meshes_per_category(text):
    """"N" -> N; "TRAIN,TEST" -> {"train": TRAIN, "test": TEST}."""
    parts = [int(p) for p in text.split(",")]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return {"train": parts[0], "test": parts[1]}
    raise ValueError(f"--meshes-per-category must be N or TRAIN,TEST, got {text!r}")


def _categories(text):
    """"A,B,..." -> ["A", "B", ...]; "all" stays "all" (every category of the source, `sphembed.presets`)."""
    return text if text == "all" else text.split(",")


def register(subparsers):
    p = subparsers.add_parser(
        "make-data",
        help="render views and ray-cast sphere maps of procedural shapes or mesh folders into TFRecord shards",
        description="Builds a dataset directory: for every mesh and view, the rendered image (+ depth, mask), the "
        "sphere map of the rotated mesh, the rotation, mesh id, category and split; TFRecord shards, manifest.json "
        "and test pair lists pairs-IB.json / pairs-CB.json. Deterministic for a seed and resumable (rerun the same "
        "command after an interruption).")
    p.add_argument("--source", default=None,
                   help="'procedural' (built-in shapes), or a folder: ModelNet40 (<class>/{train,test}/*.off), "
                   "ShapeNetCore v1/v2 (<synset>/<model>/...obj) or <class>/<mesh files> (preset data.source)")
    p.add_argument("--preset", default="demo", help="preset whose 'data' section gives the defaults (demo, paper)")
    p.add_argument("--out", required=True, metavar="DIR", help="output dataset directory")
    p.add_argument("--rotations", choices=["2dof", "3dof"], default=None,
                   help="view rotations: 2dof (azimuth + elevation, no roll) or 3dof (uniform SO(3))")
    p.add_argument("--views-per-mesh", type=int, default=None, help="views rendered per mesh")
    p.add_argument("--sphere-bandwidth", type=int, default=None, help="bandwidth B of the 2B x 2B sphere maps")
    p.add_argument("--image-size", type=int, default=None, help="side of the square rendered images (pixels)")
    p.add_argument("--color", choices=["gray", "rgb"], default=None, help="image channels: gray (1) or rgb (3)")
    p.add_argument("--workers", type=int, default=None,
                   help="render / ray-cast worker processes (default: number of CPUs)")
    p.add_argument("--seed", type=int, default=None, help="seed of shapes, rotations, splits and pairs")
    p.add_argument("--on-error", choices=["fail", "skip"], default=None,
                   help="bad mesh files: fail (stop, naming the file) or skip (listed with the reason in the manifest)")
    p.add_argument("--scale-augment", type=float, default=None, metavar="A",
                   help="random anisotropic scaling of each view's mesh by factors in [1-A, 1+A] before "
                   "normalization (image and sphere map consistent); 0 = off")
    p.add_argument("--meshes-per-category", type=_meshes_per_category, default=None, metavar="N|TRAIN,TEST",
                   help="meshes per category and split (procedural: how many to make; folders: a cap on the "
                   "meshes that load, filled in file order past bad files)")
    p.add_argument("--categories", type=_categories, default=None, metavar="A,B,...|all",
                   help="comma-separated categories to use; all: every category of the source (preset)")
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share of each category in the test split for folders without train/test folders")
    p.add_argument("--up", choices=["x", "y", "z", "-x", "-y", "-z"], default=None,
                   help="the mesh files' up axis, rotated to +Y (default y: files are not re-oriented)")
    p.add_argument("--front", choices=["x", "y", "z", "-x", "-y", "-z"], default=None,
                   help="the mesh files' front axis, rotated to +Z (default z; -y for --up z, y for --up -z)")
    p.add_argument("--meshes-per-shard", type=int, default=None, help="meshes per TFRecord shard")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


def run(args):
    cfg = config_from_args(args, "data")
    if cfg["source"] != "procedural" and not os.path.isdir(cfg["source"]):
        raise SystemExit(f"make-data: --source {cfg['source']!r} is neither 'procedural' nor a folder of meshes")
    try:
        manifest = build_dataset(args.out, cfg, workers=args.workers, progress=not args.no_progress)
    except ValueError as exc:
        raise SystemExit(f"make-data: {exc}") from exc
    counts = ", ".join(f"{split} {n}" for split, n in manifest["counts"].items())
    capped = sum(f["status"] == "capped" for f in manifest["files"])
    print(f"make-data: wrote {args.out}: {len(manifest['categories'])} categories, examples: {counts}; "
          f"{len(manifest['skipped'])} skipped files, {capped} left out by the cap (manifest.json 'files'); "
          f"pairs {manifest['pairs']}")
    return 0
