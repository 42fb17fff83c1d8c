"""`sphembed demo`: the whole system end to end, one stage after another, each a `sphembed` sub-command.

Stages (run directory RUN, `--run-dir`, default runs/demo):
  data-3dof, data-2dof   make-data: the same meshes in uniform SO(3) poses and in azimuth + elevation poses
  sphcnn, sphcnn-hub     train-sphcnn on the 3DOF sphere maps; export-hub --model sphcnn (the target module)
  embedding              train-embedding on the module's targets; eval-embedding (learned equivariance)
  pose-hub               export-hub --model pose: RUN/pose_module, a SavedModel (image_a, image_b) -> R_ab
  regression, keypointnet  the baselines, trained on the 3DOF data
  pose                   eval-pose: all methods, IB/CB pairs, 2DOF/3DOF (the paper's Table 2), and oracle-sphere
                         (the correlation of the true sphere maps: the upper bound of the alignment step)
  synthesis              train-synthesis, eval-synthesis, synthesize (novel views)
  report                 RUN/report.md and RUN/report.html (`sphembed report`)

Each stage runs in its own process (TensorFlow and the renderer never share one) and leaves a marker
RUN/stages/<stage>.json holding its commands and wall-clock time; a stage whose marker holds the same commands is
skipped, so re-running is cheap and a changed setting re-runs only what it affects (every later stage that reads
a re-run stage's output is re-run too). An interrupted stage resumes: the training commands continue from their
last checkpoint and make-data keeps its finished shards. This module imports no TensorFlow.
"""

import json
import os
import subprocess
import sys
import time

from sphembed.models.train.flags import add_run_dir_argument
from sphembed.presets import get_preset

__all__ = ["demo_stages", "run_demo", "register"]


def demo_stages(out, preset="demo", data=None, workers=None, orientation=(), seed=None):
    """The demo's stages as [(name, [argv, ...], [stages it reads from])]; argv lists are `sphembed` arguments.

    orientation: make-data flags naming the mesh files' axes, e.g. ("--up", "z") for ModelNet40.
    seed: seed of every training stage (weights, shuffling, augmentation); None: the preset's. The data (meshes,
      poses, splits, pairs) keep the preset's seed, so runs of two seeds are measured on the same held-out pairs.
    """
    if preset != "demo" and data is None:
        raise ValueError(f"preset {preset!r} needs --data: a ModelNet40 or ShapeNetCore folder")
    if data is not None and not os.path.isdir(data):
        raise ValueError(f"--data {data!r} is not a directory")
    p = lambda *parts: os.path.join(out, *parts)  # noqa: E731
    source = os.path.abspath(data) if data else "procedural"
    make = ["make-data", "--preset", preset, "--source", source]
    if data is not None:  # a mesh folder: all of its categories (the preset's are procedural ones)
        make += ["--categories", "all"]
    make += list(orientation) + (["--workers", str(workers)] if workers else [])
    d3, d2, hub = p("data", "3dof"), p("data", "2dof"), p("sphcnn", "hub")
    pre = ["--preset", preset]
    fit = pre + (["--seed", str(seed)] if seed is not None else [])  # the training commands
    partners = get_preset(preset, "pose")["pairs_per_instance"]  # view pairs per view, as eval-pose's
    return [
        ("data-3dof", [make + ["--rotations", "3dof", "--out", d3]], []),
        ("data-2dof", [make + ["--rotations", "2dof", "--out", d2]], []),
        ("sphcnn", [["train-sphcnn", "--data", d3, "--run-dir", p("sphcnn")] + fit], ["data-3dof"]),
        ("sphcnn-hub", [["export-hub", "--model", "sphcnn", "--checkpoint", p("sphcnn", "best.keras"), "--out", hub]],
         ["sphcnn"]),
        ("embedding", [["train-embedding", "--data", d3, "--module", hub, "--run-dir", p("embedding")] + fit,
                       ["eval-embedding", "--run-dir", p("embedding"), "--data", d3, "--out",
                        p("embedding", "eval.json")]], ["data-3dof", "sphcnn-hub"]),
        ("pose-hub", [["export-hub", "--model", "pose", "--checkpoint", p("embedding", "embedding.keras"), "--out",
                       p("pose_module")] + pre], ["embedding"]),
        ("regression", [["train-regression", "--data", d3, "--run-dir", p("regression")] + fit], ["data-3dof"]),
        ("keypointnet", [["train-keypointnet", "--data", d3, "--run-dir", p("keypointnet")] + fit], ["data-3dof"]),
        ("pose", [["eval-pose", "--data", f"2DOF={d2}", "--data", f"3DOF={d3}", "--method", "embedding",
                   "--method", "regression", "--method", "keypointnet", "--method", "oracle-sphere",
                   "--model", f"embedding={p('embedding')}",
                   "--model", f"regression={p('regression')}", "--model", f"keypointnet={p('keypointnet')}",
                   "--out", p("pose")] + pre], ["data-2dof", "embedding", "regression", "keypointnet"]),
        ("synthesis", [["train-synthesis", "--data", d3, "--module", hub, "--run-dir", p("synthesis")] + fit,
                       ["eval-synthesis", "--run-dir", p("synthesis"), "--data", d3, "--out", p("synthesis", "report"),
                        "--partners", str(partners)],
                       ["synthesize", "--run-dir", p("synthesis"), "--data", d3, "--index", "0", "--out",
                        p("synthesis", "views")]], ["data-3dof", "sphcnn-hub"]),
        ("report", [["report", "--run-dir", out, "--preset", preset]], ["pose", "synthesis", "embedding"]),
    ]


# Flags that change how a command shows progress, not what it computes (left out of the stage markers).
_VERBOSE = {"train-sphcnn", "train-embedding", "train-regression", "train-keypointnet", "train-synthesis"}


def _marker(out, name):
    return os.path.join(out, "stages", f"{name}.json")


def _read_marker(out, name):
    try:
        with open(_marker(out, name)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def run_demo(out="runs/demo", preset="demo", data=None, workers=None, force=(), until=None, orientation=(),
             seed=None):
    """Runs the demo stages in order, skipping those already done with the same commands.

    Args:
      out: run directory.
      preset: "demo" or "paper" (`sphembed.presets`).
      data: mesh folder (ModelNet40 / ShapeNetCore layout); None = the built-in procedural shapes (demo only).
      workers: make-data worker processes (None: one per CPU).
      force: stage names to re-run even when done.
      until: stop after this stage (None: all).
      orientation: make-data flags for the mesh files' axes, e.g. ("--up", "z").
      seed: seed of the training stages (`demo_stages`); None: the preset's.

    Returns:
      {stage: {"seconds", "skipped", "commands"}}.

    Raises:
      ValueError: bad arguments; RuntimeError naming the stage and command when a stage fails.
    """
    stages = demo_stages(out, preset, data, workers, orientation, seed)
    names = [name for name, _, _ in stages]
    unknown = sorted(set(force) - set(names) | ({until} - set(names) - {None}))
    if unknown:
        raise ValueError(f"unknown demo stages {unknown}; the stages are {names}")
    os.makedirs(os.path.join(out, "stages"), exist_ok=True)
    verbose = "1" if sys.stdout.isatty() else "2"  # Keras progress bars on a terminal, one line per epoch in logs
    rerun, timings = set(force), {}
    for i, (name, commands, reads) in enumerate(stages, 1):
        marker = _read_marker(out, name)
        if marker is not None and marker.get("commands") == commands and not rerun & set(reads) and name not in rerun:
            print(f"[{i}/{len(stages)}] {name}: done before ({marker['seconds']:.0f} s), skipped", flush=True)
            timings[name] = {**marker, "skipped": True}
        else:
            rerun.add(name)
            if os.path.exists(_marker(out, name)):
                os.remove(_marker(out, name))
            start = time.perf_counter()
            for argv in commands:
                shown = argv + (["--verbose", verbose] if argv[0] in _VERBOSE else [])
                print(f"[{i}/{len(stages)}] {name}: sphembed {' '.join(shown)}", flush=True)
                code = subprocess.call([sys.executable, "-m", "sphembed"] + shown)  # start-up chatter: cli.main
                if code:
                    raise RuntimeError(f"demo stage {name!r} failed (exit code {code}): sphembed {' '.join(shown)}")
            record = {"commands": commands, "seconds": time.perf_counter() - start,
                      "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
            with open(_marker(out, name), "w") as fh:
                json.dump(record, fh, indent=2)
            timings[name] = {**record, "skipped": False}
            print(f"[{i}/{len(stages)}] {name}: {record['seconds']:.0f} s", flush=True)
        if name == until:
            break
    return timings


def _run(args):
    try:
        orientation = [x for flag in ("up", "front") if getattr(args, flag) for x in (f"--{flag}", getattr(args, flag))]
        timings = run_demo(args.run_dir, args.preset, args.data, args.workers, tuple(args.force or ()), args.until,
                           orientation, args.seed)
    except (ValueError, RuntimeError) as err:
        raise SystemExit(f"demo: {err}")
    total = sum(t["seconds"] for t in timings.values() if not t["skipped"])
    print(f"demo: {len(timings)} stages, {total:.0f} s this run")
    report = os.path.join(args.run_dir, "report.md")
    if os.path.isfile(report):
        print(f"demo: report at {report} (and {os.path.join(args.run_dir, 'report.html')})")
    return 0


def _report(args):
    from sphembed.demo_report import write_demo_report

    path = write_demo_report(args.run_dir, args.preset)
    print(f"report: {path} and {os.path.splitext(path)[0]}.html")
    return 0


def register(subparsers):
    p = subparsers.add_parser(
        "demo", help="run the whole pipeline end to end (data, spherical CNN, embedding, pose, baselines, synthesis, "
        "report)",
        description="Runs every stage of the system in order: make-data (3DOF and 2DOF), train-sphcnn, export-hub, "
        "train-embedding + eval-embedding, train-regression, train-keypointnet, eval-pose (all methods), "
        "train-synthesis + eval-synthesis + synthesize, report. Stages already done with the same commands are "
        "skipped (markers in RUN/stages/); an interrupted stage resumes. The default runs the 'demo' preset on the "
        "built-in procedural shapes in under 20 minutes on 2 CPU cores; '--preset paper --data FOLDER' runs the "
        "paper's sizes on ModelNet40 / ShapeNetCore (a GPU machine).")
    p.add_argument("--preset", default="demo", choices=("demo", "paper"), help="named configuration (default demo)")
    p.add_argument("--data", default=None, metavar="FOLDER",
                   help="mesh folder in the ModelNet40 or ShapeNetCore layout (default: the built-in procedural "
                   "shapes; required with --preset paper)")
    add_run_dir_argument(p, "run directory (default runs/demo)", old="--out", default=os.path.join("runs", "demo"))
    p.add_argument("--workers", type=int, default=None, help="make-data worker processes (default: one per CPU)")
    for flag, note in (("up", "z for ModelNet40"), ("front", "default z; -y for --up z")):
        p.add_argument(f"--{flag}", default=None, choices=("x", "y", "z", "-x", "-y", "-z"),
                       help=f"the mesh files' {flag} axis, passed to make-data ({note})")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the training stages (weights, shuffling, augmentation; default: the preset's, 0); the "
                   "data keep the preset's seed, so two seeds are compared on the same held-out pairs")
    p.add_argument("--force", nargs="*", metavar="STAGE",
                   help="re-run these stages (and the ones that read them) even when done")
    p.add_argument("--until", default=None, metavar="STAGE", help="stop after this stage")
    p.set_defaults(func=_run)

    r = subparsers.add_parser(
        "report", help="write report.md / report.html of a demo run directory",
        description="Collects a `sphembed demo` run directory into RUN/report.md and RUN/report.html: the pose table "
        "of all methods with error histograms, aligned views (input pair and view a re-rendered in the estimated "
        "pose), synthesized views next to ground truth, equivariance errors, model metrics and stage timings.")
    r.add_argument("--run-dir", required=True, metavar="DIR", help="demo run directory (sphembed demo --run-dir)")
    r.add_argument("--preset", default="demo", help="the run's preset (pose search bandwidth; default demo)")
    r.set_defaults(func=_report)
