"""Learning curves of the embedding: held-out relative pose against training examples seen (issue 13).

For each problem of a ladder (categories x rotation regime: one category -> four -> eight, 2DOF -> 3DOF) and each
data regime (distinct views per training mesh), trains the embedding with a preset's recipe (`sphembed.presets`,
section "embedding") on `sphembed make-data` datasets of the built-in procedural shapes and evaluates relative pose
(`sphembed eval-pose`'s protocol, method "embedding") on *dev* meshes at a ladder of optimizer steps. Dev meshes come
from `make-data --seed 100` (procedural instances disjoint from the seed-0 training and test meshes that the demo
reports), so nothing here looks at a test split.

Points before the last step are read off the same run (so they sit before the learning-rate decays, which are at
60% and 90% of the last step, as in the presets); the last point is the end of the schedule. Each run is one
`train_embedding` call with an evaluating callback; the targets are the given spherical-CNN module's (the demo's
module, trained on all eight categories, serves every problem).

Usage:
  python benchmarks/bench_learning_curve.py --module runs/demo/sphcnn/hub [--problems car-3dof 4cat-3dof ...]
      [--views 8 32 | --runs car-3dof:32 4cat-3dof:8 ...] [--steps 500 1000 2000 3000] [--seeds 0]
      [--work runs/learning_curve] [--include benchmarks/results/OTHER.json ...] [--dev-rotations 2dof]
      [--set KEY=VALUE ...] [--name NAME]
Writes benchmarks/results/learning_curve.json (every run's curve) and learning_curve.png (IB and CB median against
examples seen, one panel per problem, one line per views regime) and prints a table. Not part of `make bench`
(an hour or more on two CPU cores); `benchmarks/run_all.py --only learning_curve` runs it with its defaults.
"""

import argparse
import json
import math
import os
import sys
import time

from common import RESULTS_DIR, report

PROBLEMS = {  # name: (categories, rotation regime)
    "car-3dof": (["car"], "3dof"),
    "4cat-2dof": (["airplane", "car", "chair", "sofa"], "2dof"),
    "4cat-3dof": (["airplane", "car", "chair", "sofa"], "3dof"),
    "8cat-3dof": (None, "3dof"),  # all eight procedural categories
}
DEV_SEED, DEV_MESHES, DEV_VIEWS = 100, 8, 8
TRAIN_MESHES = 24


def _dataset(work, name, categories, rotations, views, meshes, seed):
    """A procedural make-data dataset (built once, then reused: make-data skips a finished directory)."""
    from sphembed.data.make_data import build_dataset
    from sphembed.presets import get_preset

    out = os.path.join(work, "data", name)
    cfg = get_preset("demo", "data", categories=categories, rotations=rotations, views_per_mesh=views,
                     meshes_per_category=meshes, seed=seed)
    build_dataset(out, cfg, progress=False)
    return out


def pose_curve_callback(devs, steps, out_bandwidth, batch_size, record):
    """A Keras callback that evaluates held-out pose at the given optimizer steps, appending points to `record`, and
    stops training after the last step. (Built in a function: this script's top level stays TensorFlow-free, since
    make-data's spawned render workers import it.)"""
    import keras

    class PoseCurve(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step, self.seconds, self._tick, self.loss = 0, 0.0, None, float("nan")

        def on_train_batch_begin(self, batch, logs=None):
            self._tick = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds += time.perf_counter() - self._tick
            self.step += 1
            self.loss = float((logs or {}).get("loss", float("nan")))
            if self.step in steps and self.step < max(steps):
                self._point()
            if self.step >= max(steps):
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self._point()  # the last point once `fit` has finalized the weights (e.g. an optimizer EMA swapped in)

        def _point(self):
            record.append(_evaluate(self.model, devs, self.step, batch_size, self.seconds, out_bandwidth, self.loss))
            cells = ", ".join(f"{kind} {rot} {s['median']:.1f} deg / {s['acc@30']:.1f}%"
                              for rot, by_kind in record[-1]["by_rotations"].items() for kind, s in by_kind.items())
            print(f"  step {self.step}: {cells} ({self.seconds:.0f} s of training)", flush=True)

    return PoseCurve()


def _evaluate(model, devs, step, batch_size, seconds, out_bandwidth, loss):
    """One curve point: {"IB", "CB"} (and per category) on the first dev set of `devs` ({rotations: directory},
    the problem's own regime first), and every dev set's under "by_rotations" {rotations: {"IB", "CB"}}."""
    from sphembed.pose.methods import get_method
    from sphembed.pose.protocol import evaluate

    method, feature = get_method("embedding", model=model, out_bandwidth=out_bandwidth)
    records, _ = evaluate([("embedding", method, feature)], devs, kinds=("IB", "CB"), batch_size=64)
    point = {"step": step, "examples_seen": step * batch_size, "train_seconds": round(seconds, 1), "loss": loss,
             "by_rotations": {}}
    primary = next(iter(devs))
    for r in records:
        stats = {k: r[k] for k in ("median", "acc@15", "acc@30", "flip@30")}
        if r["category"] == "all":
            point["by_rotations"].setdefault(r["dataset"], {})[r["kind"]] = stats
            if r["dataset"] == primary:
                point[r["kind"]] = stats
        elif r["dataset"] == primary:
            point.setdefault(f"{r['kind']}_per_category", {})[r["category"]] = stats["median"]
    return point


def run_curve(work, module, problem, views, steps, seed, preset="demo", overrides=None, dev_rotations=()):
    """One training run of `problem` with `views` views per mesh, evaluated at `steps`: the run's JSON record.
    `overrides`: {setting: value} replacing the preset's embedding recipe (the lever being measured).
    `dev_rotations`: rotation regimes ("2dof", "3dof") of further dev sets of the same meshes, evaluated too (e.g.
    2DOF pairs of an embedding trained on 3DOF views, as `make demo` evaluates it)."""
    from sphembed.data.splits import split_count
    from sphembed.models.train.embedding import train_embedding
    from sphembed.presets import get_preset, stage_config

    categories, rotations = PROBLEMS[problem]
    train = _dataset(work, f"{problem}-v{views}", categories, rotations, views, {"train": TRAIN_MESHES, "test": 1}, 0)
    devs = {rot: _dataset(work, f"{problem}-dev" + ("" if rot == rotations else f"-{rot}"), categories, rot,
                          DEV_VIEWS, {"train": 1, "test": DEV_MESHES}, DEV_SEED)
            for rot in dict.fromkeys([rotations, *dev_rotations])}
    cfg = stage_config(preset, "embedding", **(overrides or {}))  # what train-embedding runs with
    per_epoch = math.ceil(split_count(train, "train") / cfg["batch_size"])
    cfg["epochs"] = math.ceil(max(steps) / per_epoch)
    last = max(steps) / per_epoch
    cfg["lr_boundaries"] = [0.6 * last, 0.9 * last]
    cfg["seed"] = seed
    curve = []
    callback = pose_curve_callback(devs, steps, get_preset(preset, "pose")["out_bandwidth"], cfg["batch_size"], curve)
    tag = "".join(f"-{k}={v}" for k, v in sorted((overrides or {}).items()))
    run_dir = os.path.join(work, "runs", f"{problem}-v{views}-s{seed}{tag}")
    print(f"{problem}, {views} views per mesh ({split_count(train, 'train')} training views), seed {seed}:",
          flush=True)
    train_embedding(train, module, run_dir, verbose=0, callbacks=[callback], **cfg)
    return {"problem": problem, "categories": categories or "all 8", "rotations": rotations,
            "views_per_mesh": views, "train_examples": split_count(train, "train"), "seed": seed,
            "recipe": {k: v for k, v in cfg.items() if k not in ("epochs", "lr_boundaries")}, "overrides": overrides or {},
            "curve": curve}


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(r["problem"] for r in runs))
    fig, axes = plt.subplots(1, len(problems), figsize=(4.2 * len(problems), 3.6), squeeze=False, sharey=True)
    for ax, problem in zip(axes[0], problems):
        for r in (r for r in runs if r["problem"] == problem):
            x = [p["examples_seen"] for p in r["curve"]]
            lever = "".join(f", {k}={v}" for k, v in sorted(r.get("overrides", {}).items()))
            label = f"{r['views_per_mesh']} views/mesh ({r['train_examples']}){lever}, seed {r['seed']}"
            line, = ax.plot(x, [p["IB"]["median"] for p in r["curve"]], marker="o", label=f"IB, {label}")
            ax.plot(x, [p["CB"]["median"] for p in r["curve"]], marker="x", linestyle="--", color=line.get_color(),
                    label=f"CB, {label}")
        ax.axhline(126.0, color="gray", linestyle=":", linewidth=1)  # median error of a uniformly random rotation
        ax.set(title=problem, xscale="log", xlabel="training examples seen", ylim=(0, 180))
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("held-out median error (deg)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _runs_of(path):
    """The run records of an earlier invocation's NAME.json ({"runs": [...]}) or NAME_runs.json ([...])."""
    with open(path) as fh:
        content = json.load(fh)
    runs = content["runs"] if isinstance(content, dict) else content
    if not isinstance(runs, list) or not all(isinstance(r, dict) and "curve" in r for r in runs):
        sys.exit(f"bench_learning_curve: --include {path!r} holds no learning-curve runs")
    return runs


def _problem_views(item, parser):
    """'PROBLEM:VIEWS' -> (problem, views), or a parser error naming the item."""
    problem, _, views = item.partition(":")
    if problem not in PROBLEMS or not views.isdigit() or int(views) < 1:
        parser.error(f"--runs: {item!r} is not PROBLEM:VIEWS with PROBLEM one of {list(PROBLEMS)} and VIEWS >= 1")
    return problem, int(views)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="runs/demo/sphcnn/hub",
                        help="spherical-CNN Hub module of the targets (default: the demo's, from `sphembed demo "
                        "--until sphcnn-hub`)")
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--views", nargs="+", type=int, default=[8, 32], help="views per training mesh")
    parser.add_argument("--runs", nargs="*", default=None, metavar="PROBLEM:VIEWS",
                        help="the (problem, views per mesh) pairs to run instead of every --problems x --views pair, "
                        "e.g. car-3dof:32 4cat-3dof:8; none given: only the --include runs (a merged table and plot)")
    parser.add_argument("--steps", nargs="+", type=int, default=[500, 1000, 2000, 3000],
                        help="optimizer steps at which to evaluate; the last ends the run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--preset", default="demo", help="preset whose embedding recipe is trained")
    parser.add_argument("--work", default="runs/learning_curve", help="datasets and run directories")
    parser.add_argument("--dev-rotations", nargs="*", default=[], choices=["2dof", "3dof"],
                        help="also evaluate on dev sets of these rotation regimes (same dev meshes), e.g. 2dof for "
                        "a 3DOF-trained embedding, as `make demo` evaluates it")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="recipe overrides (the lever measured), e.g. target_scaling=none (JSON values)")
    parser.add_argument("--name", default="learning_curve", help="results name: benchmarks/results/NAME.json/.png")
    parser.add_argument("--include", nargs="*", default=[], metavar="JSON",
                        help="runs of earlier invocations to put in this table and plot first (their NAME.json or "
                        "NAME_runs.json), so that a ladder can be run in parts")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.module):
        sys.exit(f"bench_learning_curve: no spherical-CNN module at {args.module!r}; build one with "
                 "`sphembed demo --until sphcnn-hub` or pass --module")
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    pairs = [(p, v) for p in args.problems for v in args.views]
    if args.runs is not None:
        pairs = [_problem_views(item, parser) for item in args.runs]
    runs = [r for path in args.include for r in _runs_of(path)]
    os.makedirs(RESULTS_DIR, exist_ok=True)
    for problem, views in pairs:
        for seed in args.seeds:
            runs.append(run_curve(args.work, args.module, problem, views, args.steps, seed, args.preset, overrides,
                                  args.dev_rotations))
            with open(os.path.join(RESULTS_DIR, f"{args.name}_runs.json"), "w") as fh:
                json.dump(runs, fh, indent=1)  # partial results survive an interrupted ladder
    rows = [{"problem": r["problem"], "views/mesh": r["views_per_mesh"], "train views": r["train_examples"],
             "seed": r["seed"], "batch": r.get("recipe", {}).get("batch_size", ""), "steps": p["step"],
             "examples seen": p["examples_seen"],
             "train s": p["train_seconds"], "IB median": p["IB"]["median"], "IB acc@30": p["IB"]["acc@30"],
             "IB flip@30": p["IB"]["flip@30"], "CB median": p["CB"]["median"], "CB acc@30": p["CB"]["acc@30"],
             "overrides": json.dumps(r.get("overrides", {}), sort_keys=True),
             **{f"{kind} {rot.upper()} {stat}": s[stat]
                for rot, by_kind in p.get("by_rotations", {}).items() if rot != r["rotations"]
                for kind, s in by_kind.items() for stat in ("median", "acc@30")}}
            for r in runs for p in r["curve"]]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    rows = [{c: row.get(c, "") for c in columns} for row in rows]  # regimes a run did not evaluate: empty cells
    report(args.name, rows, columns, notes=f"dev meshes: make-data --seed {DEV_SEED}, {DEV_MESHES} meshes x "
           f"{DEV_VIEWS} views per category; recipe: preset {args.preset!r} embedding section as it was at each run, "
           "with the run's overrides (column; every setting in the JSON's recipe); "
           f"module {args.module}")
    path = os.path.join(RESULTS_DIR, f"{args.name}.json")
    with open(path) as fh:
        result = json.load(fh)
    result["runs"] = runs
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)
    partial = os.path.join(RESULTS_DIR, f"{args.name}_runs.json")
    if os.path.exists(partial):
        os.remove(partial)
    print(f"plot: {plot(runs, os.path.join(RESULTS_DIR, args.name + '.png'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
