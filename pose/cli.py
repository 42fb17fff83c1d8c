"""`sphembed eval-pose`: the paper's relative-pose protocol (Table 2) for registered methods.

No TensorFlow import at module level (the command line stays fast); `run` imports the protocol.
"""

import os

from sphembed.pose.methods import get_method, load_method_modules
from sphembed.pose.metrics import AXES
from sphembed.pose.tables import markdown_table, write_report
from sphembed.presets import config_from_args

__all__ = ["register", "run"]


def _key_value(text, what):
    """"KEY=VALUE" -> (KEY, VALUE); "VALUE" -> (None, VALUE)."""
    if "=" in text:
        key, value = text.split("=", 1)
        if not key or not value:
            raise ValueError(f"{what} must be VALUE or KEY=VALUE, got {text!r}")
        return key, value
    return None, text


def register(subparsers):
    p = subparsers.add_parser(
        "eval-pose",
        help="relative-pose evaluation (paper Table 2): median error, acc@15, acc@30 per category, IB/CB, 2DOF/3DOF",
        description="Evaluates relative-pose methods on image pairs of held-out meshes: for each dataset (e.g. a "
        "2DOF and a 3DOF one), pair kind (IB: same mesh, CB: same category) and category, the median geodesic "
        "error and the accuracies at 15 and 30 degrees. Writes pose_table.md, pose_results.csv, "
        "pose_results.json and pose_errors.png into --out.")
    p.add_argument("--data", action="append", required=True, metavar="[LABEL=]DIR",
                   help="dataset directory from make-data; repeat for several (e.g. --data 2DOF=d2 --data 3DOF=d3); "
                   "the label defaults to the manifest's rotation regime")
    p.add_argument("--method", action="append", required=True, metavar="NAME",
                   help="method to evaluate (repeatable; one row block each): embedding, oracle-sphere, oracle-target "
                   "(--model oracle-target=HUB_DIR#ENDPOINT: the spherical-CNN targets of the true sphere maps), or a "
                   "plug-in's (e.g. regression, keypointnet)")
    p.add_argument("--model", action="append", default=[], metavar="[METHOD=]PATH",
                   help="model of a method (.keras file or SavedModel/Hub directory); METHOD= when several methods "
                   "need different models")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory for the tables and histogram")
    p.add_argument("--kinds", nargs="+", default=["IB", "CB"], choices=["IB", "CB"],
                   help="pair kinds: IB (two views of one mesh) and/or CB (two meshes of one category)")
    p.add_argument("--split", default="test", help="dataset split to evaluate (default test)")
    p.add_argument("--symmetric", action="append", default=[], metavar="CATEGORY[:AXIS]",
                   help="count errors of CATEGORY up to a 180-degree rotation about object axis x, y or z "
                   "(default y, the up axis); repeatable")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="Python module to import that registers more methods (sphembed.pose.methods.register_method)")
    p.add_argument("--preset", default="demo", help="preset whose 'pose' section gives the defaults (demo, paper)")
    p.add_argument("--out-bandwidth", type=int, default=None,
                   help="bandwidth B' of the SO(3) search grid (preset pose.out_bandwidth)")
    p.add_argument("--no-refine", action="store_true", help="skip the Newton refinement beyond the SO(3) grid")
    p.add_argument("--batch-size", type=int, default=None, help="pairs per method call (preset pose.batch_size)")
    p.add_argument("--pairs-per-instance", type=int, default=None,
                   help="partners per view when pair lists are generated (preset pose.pairs_per_instance)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pair generation (default 0)")
    p.set_defaults(func=run)


def run(args):
    from sphembed.pose.protocol import dataset_label, evaluate

    cfg = config_from_args(args, "pose")
    data_dirs = {}
    for text in args.data:
        label, path = _key_value(text, "--data")
        if not os.path.isdir(path):
            raise SystemExit(f"eval-pose: --data {path!r} is not a directory")
        data_dirs[label or dataset_label(path)] = path
    models = dict(_key_value(text, "--model") for text in args.model)
    symmetric = {}
    for text in args.symmetric:
        cat, _, axis = text.partition(":")
        axis = axis or "y"
        if axis not in AXES:
            raise SystemExit(f"eval-pose: --symmetric {text!r}: axis must be one of {sorted(AXES)}")
        symmetric[cat] = axis
    load_method_modules(args.plugin)
    methods = []
    for name in args.method:
        model = models.get(name, models.get(None))
        try:
            method, feature = get_method(name, model=model, out_bandwidth=cfg["out_bandwidth"],
                                         refine=not args.no_refine)
        except ValueError as err:
            raise SystemExit(f"eval-pose: {err}") from err
        methods.append((name, method, feature))
    records, errors = evaluate(methods, data_dirs, tuple(args.kinds), args.split, cfg["batch_size"],
                               cfg["pairs_per_instance"], args.seed, symmetric)
    paths = write_report(records, errors, args.out, meta={
        "methods": args.method, "data": data_dirs, "symmetric": symmetric, "out_bandwidth": cfg["out_bandwidth"],
        "refine": not args.no_refine, "split": args.split})
    print(markdown_table(records))
    for kind, path in paths.items():
        print(f"{kind:<10} {path}")
    return 0
