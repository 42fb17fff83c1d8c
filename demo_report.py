"""The report of a `sphembed demo` run directory: RUN/report.md and RUN/report.html (`sphembed report`).

Reads what the demo stages wrote (stages/*.json timings, the run_info.json of the sphcnn, embedding, regression and
keypointnet run directories, embedding/eval.json,
pose/pose_results.json + pose_errors.png, synthesis/report/ and synthesis/views/) and makes one new figure,
aligned_views.png: for one held-out instance-based 3DOF pair per category, view a, view b, and the mesh of view a
re-rendered in the pose R_est R_a the embedding method estimates (it should look like view b). Re-rendering runs in
a spawned TF-free worker (`sphembed.data.render.worker_pool`).
"""

import json
import os

import numpy as np

from sphembed.data.build import mesh_views
from sphembed.data.pairs import pair_rows
from sphembed.data.records import read_manifest
from sphembed.data.render import worker_pool
from sphembed.data.splits import load_split
from sphembed.models.train.run_dir import read_run_info
from sphembed.pose.methods import get_method
from sphembed.pose.metrics import pose_errors_deg
from sphembed.pose.protocol import estimate_pairs, load_pairs
from sphembed.pose.tables import table_rows
from sphembed.presets import get_preset
from sphembed.report import write_report
from sphembed.synthesis.visualize import image_grid, save_png

__all__ = ["aligned_views", "write_demo_report"]


def _load(path):
    if not os.path.isfile(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def aligned_views(data_dir, embedding_run, out_png, out_bandwidth, split="test", seed=0):
    """Writes the aligned-views figure (rows: view a | view b | view a's mesh in the estimated pose); returns
    the per-row geodesic errors in degrees."""
    manifest = read_manifest(data_dir)
    data = load_split(data_dir, "image", split)
    pairs = load_pairs(data_dir, "IB", split, manifest["config"]["pair_partners"], seed)
    firsts = {}
    for a, b in pair_rows(data["index"], pairs, "IB pairs"):  # the first pair of every category
        firsts.setdefault(data["category"][a], (a, b))
    rows = np.array(list(firsts.values()), np.int64)
    method, _ = get_method("embedding", model=embedding_run, out_bandwidth=out_bandwidth)
    R_hat = estimate_pairs(method, data["image"], rows, batch_size=len(rows), desc="aligned views")
    R_a, R_b = data["rotation"][rows[:, 0]], data["rotation"][rows[:, 1]]
    meshes = manifest["splits"][split]["meshes"]
    views = manifest["views_per_mesh"]
    tasks = [{"spec": meshes[int(index) // views]["source"], "rotations": (R @ Ra)[None], "scales": np.ones((1, 3)),
              "image_size": manifest["image_size"], "color": manifest["color"],
              "sphere_bandwidth": manifest["sphere_bandwidth"], "sphere": False}
             for index, R, Ra in zip(data["index"][rows[:, 0]], R_hat, R_a.astype(np.float64))]
    with worker_pool(1) as pool:
        rendered = np.stack([r["image"][0] for r in pool.map(mesh_views, tasks)])
    rendered = rendered.reshape(data["image"][rows[:, 0]].shape).astype(np.float32) / 255.0  # uint8 -> [0, 1]
    grid = image_grid(np.stack([data["image"][rows[:, 0]], data["image"][rows[:, 1]], rendered], axis=1))
    save_png(grid.repeat(2, axis=0).repeat(2, axis=1), out_png)  # twice the size, for reading
    return dict(zip(firsts, pose_errors_deg(R_hat, R_a, R_b).tolist()))


# The paper's Table 2 (ShapeNet, its method "Ours"): median error in degrees per (kind, dataset) and category.
PAPER_MEDIANS = {
    ("IB", "2DOF"): {"airplane": 5.17, "car": 3.70, "chair": 5.07, "sofa": 4.59},
    ("CB", "2DOF"): {"airplane": 6.24, "car": 4.73, "chair": 12.1, "sofa": 10.8},
    ("IB", "3DOF"): {"airplane": 6.64, "car": 3.84, "chair": 5.55, "sofa": 5.21},
    ("CB", "3DOF"): {"airplane": 7.27, "car": 4.59, "chair": 12.3, "sofa": 9.66},
}


def _embedding_budget(run_dir):
    """'N steps of B' of the run's embedding training (RUN_DIR/embedding/run_info.json), or None without it."""
    path = os.path.join(run_dir, "embedding")
    if not os.path.isfile(os.path.join(path, "run_info.json")):
        return None
    info = read_run_info(path)
    training, batch = info.get("training", {}), info.get("config", {}).get("batch_size")
    if not training.get("epochs") or not training.get("steps_per_epoch") or not batch:
        return None
    return f"{training['epochs'] * training['steps_per_epoch']:,} steps of {batch}"


def _paper_blocks(run_dir, records, method="embedding"):
    """This run's embedding medians next to the paper's Table 2, per category, and why they differ."""
    ours = {(r["kind"], r["dataset"], r["category"]): r["median"] for r in records if r["method"] == method}
    groups = [g for g in PAPER_MEDIANS if any(k[:2] == g for k in ours)]
    cats = sorted({c for g in groups for c in PAPER_MEDIANS[g] if (*g, c) in ours})
    if not cats:
        return []
    rows = [[c] + [f"{ours[(*g, c)]:.1f} / {PAPER_MEDIANS[g][c]:.1f}" for g in groups] for c in cats]
    budget = _embedding_budget(run_dir)
    return [("h", 3, "Against the paper"),
            ("p", "Median error in degrees, this run / the paper's Table 2 (ShapeNet). The paper trains its "
                  "embedding for 200k steps of 16 on a GPU on thousands of ShapeNet meshes per category, with 2b = 16 "
                  "targets from a spherical CNN trained on ModelNet40; this demo trains "
                  f"{budget or 'its embedding (budget not recorded)'} on a 2-core "
                  "CPU, on 24 procedural meshes per category, with 2b = 8 targets (a 45-degree grid; the correlation "
                  "is refined off the grid) of a small spherical CNN trained on the same 4 categories."),
            ("table", ["category"] + [f"{k} {d}" for k, d in groups], rows)]


def _pose_blocks(run_dir, pose):
    records = pose["records"] if isinstance(pose, dict) else pose
    overall = [r for r in records if r["category"] == "all"]
    blocks = [("h", 2, "Relative pose (the paper's Table 2)"),
              ("p", "Held-out meshes; median geodesic error (degrees) and accuracy (%) within 15 and 30 degrees, for "
                    "instance-based (IB: two views of one mesh) and category-based (CB: two meshes of one category) "
                    "pairs with 2DOF (azimuth + elevation) and 3DOF (any rotation) poses, and flip@30: the share "
                    "within 30 degrees of a half turn (front/back confusions; chance 32.6%). Chance: a random 3DOF "
                    "rotation is ~126 degrees off in median. oracle-sphere aligns the ground-truth sphere maps of "
                    "the two meshes (not images): the upper bound of the correlation step."),
              ("table", *table_rows(overall)),
              ("h", 3, "Per category"), ("table", *table_rows(records))] + _paper_blocks(run_dir, records)
    if os.path.isfile(os.path.join(run_dir, "pose", "pose_errors.png")):
        blocks.append(("img", "pose/pose_errors.png", "Error histograms per method, pair kind and rotation regime"))
    return blocks


def _sphcnn_blocks(rep):
    eq = rep["equivariance_error"]
    return [("h", 2, "Spherical CNN (target module)"),
            ("p", f"Classification accuracy on rotated sphere maps: train {100 * rep['train_accuracy_rotated']:.1f}%, "
                  f"test {100 * rep['test_accuracy_rotated']:.1f}% ({len(rep['categories'])} categories); "
                  f"{rep['parameters']:,} parameters, {rep['seconds_per_epoch']:.1f} s per epoch."),
            ("p", "Measured equivariance error ||Phi(rotated input) - rotated Phi(input)|| / ||rotated Phi(input)||, "
                  "random SO(3) rotations of band-limited inputs (logits: invariance):"),
            ("table", ["output", "equivariance error"], [[k, float(v)] for k, v in eq.items()])]


def _embedding_blocks(ev):
    names = ("trained", "random_init", "targets")
    rows = [[cat] + [float(v[n]) for n in names] + [v["pairs"]] for cat, v in ev["equivariance"].items()]
    return [("h", 2, "Embedding network"),
            ("p", f"Endpoint {ev['endpoint']}, held-out {ev['split']} split ({ev['examples']} views): area-weighted "
                  f"Huber loss {ev['huber']:.4g}, relative error {ev['relative_error']:.4g}."),
            ("p", "Learned equivariance error ||E(view b) - rotated E(view a)|| / ||rotated E(view a)|| (rotation "
                  "R_b R_a^T) over pairs of views of one held-out mesh, the spherical CNN's measure above; the trained "
                  "network next to a randomly initialized one and the spherical-CNN targets themselves."),
            ("table", ["category", "trained", "random init", "targets", "pairs"], rows)]


def _synthesis_blocks(run_dir, ev):
    blocks = [("h", 2, "Novel-view synthesis")]
    if ev:
        rows = [[name] + [float(m[k]) for k in ("psnr", "ssim", "iou")] + [m["pairs"]]
                for name, m in ev["per_category"]["all"].items()]
        blocks += [("p", "Held-out view pairs of one mesh: the synthesized view G(Lambda_R E(I_a)) vs the rendered "
                         "I_b, next to returning the input view (baseline). Per-category and per-angle tables: "
                         "synthesis/report/synthesis_report.md."),
                   ("table", ["method", "PSNR (dB)", "SSIM", "silhouette IoU", "pairs"], rows)]
    images = os.path.join(run_dir, "synthesis", "report", "images")
    for name in sorted(os.listdir(images)) if os.path.isdir(images) else []:
        caption = ("Turntable: input view, then the object turned about the vertical axis in 45-degree steps"
                   if name.startswith("turntable") else
                   f"{name[9:-4]}: input view | rendered target view | synthesized view | synthesized from the "
                   "spherical-CNN target")
        blocks.append(("img", f"synthesis/report/images/{name}", caption))
    if os.path.isfile(os.path.join(run_dir, "synthesis", "views", "grid.png")):
        blocks.append(("img", "synthesis/views/grid.png", "`sphembed synthesize`: input view and novel views "
                                                          "(animations: synthesis/views/turntable.gif, tumble.gif)"))
    return blocks


def _training_blocks(run_dir):
    """Training seconds, epochs and views of each pose method: they get the same data and about the same time."""
    rows = []
    for method, folder in (("embedding", "embedding"), ("regression", "regression"), ("KeypointNet", "keypointnet")):
        training = read_run_info(os.path.join(run_dir, folder)).get("training")
        if training:
            rows.append([method, round(training.get("seconds") or float("nan"), 1), training.get("epochs", "")])
    if not rows:
        return []
    return [("h", 3, "Training budgets"),
            ("p", "Every image-based method trains on the same 3DOF training views (data/3dof) for about the same "
                  "wall-clock time (fit seconds, data loading and evaluation excluded), so the pose table compares "
                  "methods, not budgets."),
            ("table", ["method", "training seconds", "epochs"], rows)]


def _timing_blocks(run_dir):
    rows = []
    folder = os.path.join(run_dir, "stages")
    for name in sorted(os.listdir(folder), key=lambda n: os.path.getmtime(os.path.join(folder, n))):
        if name.endswith(".json"):
            m = _load(os.path.join(folder, name))
            rows.append([name[:-5], round(m["seconds"], 1), m.get("finished", "")])
    total = sum(r[1] for r in rows)
    return [("h", 2, "Timings"), ("p", f"Wall-clock seconds per stage (total {total:.0f} s = {total / 60:.1f} min; "
                                       "each stage's commands are in stages/<stage>.json)."),
            ("table", ["stage", "seconds", "finished"], rows)]


def write_demo_report(run_dir, preset="demo"):
    """Writes RUN/report.md and RUN/report.html from a demo run directory; returns the Markdown path.

    Raises:
      ValueError: if the run directory lacks the pose results (run `sphembed demo` first).
    """
    pose = _load(os.path.join(run_dir, "pose", "pose_results.json"))
    if pose is None:
        raise ValueError(f"{run_dir} has no pose/pose_results.json: run `sphembed demo --run-dir {run_dir}` first")
    blocks = [("h", 1, "sphembed demo report"),
              ("p", f"Preset {preset!r}. Spherical CNN trained on the 3DOF dataset's sphere maps; embedding, "
                    "regression and KeypointNet trained on its 3DOF views; all evaluated on held-out meshes of the "
                    "3DOF and 2DOF datasets (data/*/manifest.json).")]
    blocks += _pose_blocks(run_dir, pose) + _training_blocks(run_dir)
    d3, emb = os.path.join(run_dir, "data", "3dof"), os.path.join(run_dir, "embedding")
    errors = aligned_views(d3, emb, os.path.join(run_dir, "aligned_views.png"),
                           get_preset(preset, "pose")["out_bandwidth"])
    blocks += [("h", 3, "Aligned views"),
               ("img", "aligned_views.png", "One held-out 3DOF pair per category: view a | view b | view a's mesh "
                "re-rendered in the pose the embedding method estimates (matches view b when the estimate is right)"),
               ("table", ["category", "error (degrees)"], [[c, e] for c, e in errors.items()])]
    sphcnn = read_run_info(os.path.join(run_dir, "sphcnn")).get("results")
    if sphcnn:
        blocks += _sphcnn_blocks(sphcnn)
    ev = _load(os.path.join(emb, "eval.json"))
    if ev:
        blocks += _embedding_blocks(ev)
    blocks += _synthesis_blocks(run_dir, _load(os.path.join(run_dir, "synthesis", "report", "synthesis_eval.json")))
    blocks += _timing_blocks(run_dir)
    return write_report(blocks, run_dir, title="sphembed demo report")
