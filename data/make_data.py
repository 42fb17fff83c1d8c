"""`sphembed make-data`: datasets of rendered views + sphere maps of the rotated meshes, as TFRecord shards.

Output (DIR = out_dir): DIR/manifest.json (`sphembed.data.manifest`), DIR/<split>-<k:05d>-of-<n:05d>.tfrecord
(`sphembed.data.records` features) and DIR/pairs-IB.json, DIR/pairs-CB.json for the test split
(`sphembed.data.pairs`).

Properties (tests/test_data_make.py):
  * Deterministic: equal config (source, sizes, seed, ...) gives byte-identical shards, whatever the worker count.
    Procedural instance seeds depend on (seed, split, category, instance); view rotations and scale factors on
    (seed, split, mesh position), so a 2dof and a 3dof dataset with one seed hold the same meshes.
  * Resumable: the manifest (with the mesh plan and config hash) is written first with status "incomplete"; a
    finished shard is never rewritten; shards are written to `<shard>.tmp-<pid>` and renamed, so a killed run never
    leaves a half shard (stale temporary files are removed on the next run); rerunning the same command finishes
    the job. A different config in the same DIR is an error.
  * Nothing is silently skipped: with on_error="fail" the first bad mesh file stops the build with its name and
    reason; with "skip" every bad file is listed with its reason in manifest["skipped"].
  * Caps count valid meshes: meshes_per_category caps a folder source's (category, split) groups at that many meshes
    that load and normalize; candidates are validated in the order of `find_meshes` (category, then path; splits
    seeded) until the cap is met, so bad files are replaced by the next good ones. manifest["files"] records every
    file of the source with status "used", "skipped" (reason) or "capped" (never validated: the cap was full).
  * Renders and ray casting run in a pool of spawned workers that never import TensorFlow; this process only
    serializes and writes records.
"""

import glob
import math
import os

import numpy as np

from sphembed.data.build import check_spec, mesh_views, view_parameters
from sphembed.data.manifest import MANIFEST, config_hash, read_manifest, write_json, write_manifest
from sphembed.data.meshes import find_meshes
from sphembed.data.pairs import KINDS, make_pairs, pair_file
from sphembed.data.procedural import CATEGORIES
from sphembed.data.render import CAMERA_DISTANCE, COLORS, YFOV, worker_pool
from sphembed.data.sampling import ROTATION_MODES
from sphembed.models.sphere.shapes import check_bandwidth
from sphembed.progress import progress_bar

__all__ = ["SPLITS", "CONFIG_KEYS", "build_dataset"]

SPLITS = ("train", "test")
ON_ERROR = ("fail", "skip")
# Settings that fix the content of a dataset (hashed into manifest["config_hash"]).
CONFIG_KEYS = ("source", "categories", "meshes_per_category", "views_per_mesh", "sphere_bandwidth", "image_size",
               "color", "rotations", "seed", "scale_augment", "test_fraction", "meshes_per_shard", "pair_partners",
               "on_error", "up", "front")


def _per_split(value, what):
    """meshes_per_category: None (all), N (train and test each capped at N) or {"train": N, "test": M}."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, (int, np.integer)) and value > 0:
        return {"train": int(value), "test": int(value)}
    raise ValueError(f"{what} must be a positive int, {{'train': N, 'test': M}} or None, got {value!r}")


def _procedural_plan(config):
    categories = list(config["categories"] or CATEGORIES)
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"unknown procedural categories {unknown}; choose from {CATEGORIES}")
    counts = _per_split(config["meshes_per_category"], "meshes_per_category")
    if counts is None:
        raise ValueError("the procedural source needs meshes_per_category (e.g. {'train': 24, 'test': 6})")
    def shape_seed(split_i, category, i):  # independent of which other categories are used
        entropy = [config["seed"], 7, split_i, CATEGORIES.index(category), i]
        return int(np.random.SeedSequence(entropy).generate_state(1)[0])

    splits = {split: [{"mesh_id": f"{c}/{split}_{i:04d}", "category": c, "label": label,
                       "source": {"kind": "procedural", "category": c, "seed": shape_seed(split_i, c, i)}}
                      for label, c in enumerate(categories) for i in range(counts[split])]
              for split_i, split in enumerate(SPLITS)}
    return "procedural", categories, splits, []


def _next_candidates(queues, valid, caps):
    """Pops, for every (category, split) queue short of its cap, as many candidates as valid meshes are missing."""
    batch = []
    for key, queue in queues.items():
        missing = len(queue) if caps is None else caps[key[1]] - valid[key]
        batch += queue[:missing]
        del queue[:missing]
    return batch


def _validate_capped(entries, caps, specs, pool, progress, on_error):
    """Validates candidates in order until each (category, split) has caps[split] valid meshes (all without caps).

    Candidates are drawn in rounds (`_next_candidates`), each validated in parallel, so which files are validated
    does not depend on the worker count.

    Returns:
      {path: None (valid) or reason}; candidates left out by a full cap are absent.

    Raises:
      ValueError: with on_error="fail", listing the bad files of the round that found them.
    """
    queues = {}
    for e in entries:
        queues.setdefault((e["category"], e["split"]), []).append(e)
    reasons, valid = {}, dict.fromkeys(queues, 0)
    batch = _next_candidates(queues, valid, caps)
    with progress_bar(total=len(batch), desc="checking meshes", unit="mesh", disable=not progress) as bar:
        while batch:
            for e, reason in zip(batch, pool.imap(check_spec, [specs[e["path"]] for e in batch])):
                reasons[e["path"]] = reason
                valid[(e["category"], e["split"])] += reason is None
                bar.update()
            bad = [reasons[e["path"]] for e in batch if reasons[e["path"]] is not None]
            if bad and on_error == "fail":
                raise ValueError(f"{len(bad)} bad mesh file(s) (use --on-error skip to leave them out): "
                                 + "; ".join(bad))
            batch = _next_candidates(queues, valid, caps)
            bar.total += len(batch)
    return reasons


def _folder_plan(config, pool, progress):
    layout, entries = find_meshes(config["source"], config["test_fraction"], config["seed"])
    if config["categories"]:
        missing = sorted(set(config["categories"]) - {e["category"] for e in entries})
        if missing:
            raise ValueError(f"categories {missing} are not in {config['source']!r}")
        entries = [e for e in entries if e["category"] in config["categories"]]
    caps = _per_split(config["meshes_per_category"], "meshes_per_category")
    specs = {e["path"]: {"kind": "file", "path": e["path"], "up": config["up"], "front": config["front"]}
             for e in entries}
    reasons = _validate_capped(entries, caps, specs, pool, progress, config["on_error"])
    files = []  # every file of the source: used, skipped (reason) or left out by a full cap
    for e in entries:
        record = {"file": e["path"], "mesh_id": e["mesh_id"], "category": e["category"], "split": e["split"]}
        if e["path"] not in reasons:
            record.update(status="capped", reason=f"not considered: cap of {caps[e['split']]} valid "
                          f"{e['split']} meshes per category reached")
        elif reasons[e["path"]] is None:
            record["status"] = "used"
        else:
            record.update(status="skipped", reason=reasons[e["path"]])
        files.append(record)
    good = [e for e in entries if e["path"] in reasons and reasons[e["path"]] is None]
    categories = sorted({e["category"] for e in good})
    splits = {split: [{"mesh_id": e["mesh_id"], "category": e["category"], "label": categories.index(e["category"]),
                       "source": specs[e["path"]]} for e in good if e["split"] == split] for split in SPLITS}
    return layout, categories, splits, files


def _shard_names(split, n_meshes, per_shard):
    n = max(1, math.ceil(n_meshes / per_shard)) if n_meshes else 0
    return [f"{split}-{k:05d}-of-{n:05d}.tfrecord" for k in range(n)]


def _view_seed(config, split, position):
    return [config["seed"], 11, SPLITS.index(split), position]


def _new_manifest(config, pool, progress):
    if config["source"] == "procedural":
        layout, categories, splits, files = _procedural_plan(config)
    else:
        layout, categories, splits, files = _folder_plan(config, pool, progress)
    skipped = [{"file": f["file"], "reason": f["reason"]} for f in files if f["status"] == "skipped"]
    if not categories:
        reasons = "".join(f"; {s['reason']}" for s in skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
        raise ValueError(f"no usable meshes in {config['source']!r} ({len(files)} files considered, "
                         f"{len(skipped)} bad{reasons})")
    views = config["views_per_mesh"]
    return {
        "format": "sphembed-data/1", "status": "incomplete", "source": config["source"], "layout": layout,
        "categories": categories, "sphere_bandwidth": config["sphere_bandwidth"],
        "image_size": config["image_size"], "channels": 1 if config["color"] == "gray" else 3,
        "color": config["color"], "rotations": config["rotations"], "views_per_mesh": views,
        "scale_augment": config["scale_augment"], "seed": config["seed"],
        "camera": {"position": [0.0, 0.0, CAMERA_DISTANCE], "look_at": [0.0, 0.0, 0.0], "up": [0.0, 1.0, 0.0],
                   "yfov_rad": YFOV, "projection": "perspective"},
        "object_frame": "+Y up, front toward +Z, +X the object's left; a view in pose R renders vertices R v",
        "counts": {split: views * len(meshes) for split, meshes in splits.items()},
        "splits": {split: {"count": views * len(meshes),
                           "shards": _shard_names(split, len(meshes), config["meshes_per_shard"]),
                           "meshes": meshes} for split, meshes in splits.items()},
        "skipped": skipped, "files": files, "config": config, "config_hash": config_hash(config),
    }


def _write_shard(path, results, metas, split, first_index):
    import tensorflow as tf

    from sphembed.data.records import serialize_example

    tmp = f"{path}.tmp-{os.getpid()}"
    index = first_index
    with tf.io.TFRecordWriter(tmp) as writer:
        for result, meta in zip(results, metas):
            for v in range(len(result["rotation"])):
                writer.write(serialize_example(
                    result["image"][v], result["depth"][v], result["mask"][v], result["sphere"][v],
                    result["rotation"][v], meta["label"], meta["mesh_id"], meta["category"], split, index))
                index += 1
    os.replace(tmp, path)


def _split_rotations(manifest, split):
    config = manifest["config"]
    return np.concatenate([view_parameters(_view_seed(config, split, p), config["views_per_mesh"],
                                           config["rotations"], config["scale_augment"])[0]
                           for p in range(len(manifest["splits"][split]["meshes"]))])


def _write_pairs(out_dir, manifest, split="test"):
    config = manifest["config"]
    meshes = manifest["splits"][split]["meshes"]
    written = {}
    if not meshes:
        return written
    rotations = _split_rotations(manifest, split)
    mesh_categories = [m["category"] for m in meshes]
    for kind in KINDS:
        if kind == "IB" and config["views_per_mesh"] < 2:
            print(f"make-data: no IB pairs (views_per_mesh={config['views_per_mesh']} < 2)")
            continue
        pairs = make_pairs(out_dir, split, kind, config["pair_partners"], config["seed"])
        content = pair_file(pairs, kind, split, config["pair_partners"], config["seed"], manifest["categories"],
                            mesh_categories, rotations)
        if content["categories_without_pairs"]:
            print(f"make-data: no {kind} pairs for categories with one {split} mesh: "
                  f"{content['categories_without_pairs']}")
        write_json(os.path.join(out_dir, f"pairs-{kind}.json"), content)
        written[kind] = len(pairs)
    return written


def _checked(config):
    """The CONFIG_KEYS part of config with an absolute source path; ValueError naming a bad setting."""
    missing = sorted(set(CONFIG_KEYS) - set(config))
    if missing:
        raise ValueError(f"config lacks {missing}")
    config = {key: config[key] for key in CONFIG_KEYS}
    if config["source"] != "procedural":
        config["source"] = os.path.abspath(config["source"])
    check_bandwidth(config["sphere_bandwidth"])
    choices = {"on_error": ON_ERROR, "color": COLORS, "rotations": ROTATION_MODES}
    for key, allowed in choices.items():
        if config[key] not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {config[key]!r}")
    for key, low in (("views_per_mesh", 1), ("image_size", 8), ("meshes_per_shard", 1), ("pair_partners", 1)):
        if not isinstance(config[key], int) or config[key] < low:
            raise ValueError(f"{key} must be an integer >= {low}, got {config[key]!r}")
    for key in ("scale_augment", "test_fraction"):
        if not 0 <= config[key] < 1:
            raise ValueError(f"{key} must be in [0, 1), got {config[key]!r}")
    return config


def build_dataset(out_dir, config, workers=None, backend=None, progress=True):
    """Builds (or resumes) a dataset directory.

    Args:
      out_dir: output directory (created).
      config: dict with every key of CONFIG_KEYS (e.g. `get_preset("demo", "data")` plus the source and flags):
        source "procedural" or a mesh folder; categories None or names; meshes_per_category None / N /
        {"train": N, "test": M}; views_per_mesh; sphere_bandwidth B (maps 2B x 2B); image_size; color "gray"/"rgb";
        rotations "2dof"/"3dof"; seed; scale_augment A in [0, 1); test_fraction; meshes_per_shard; pair_partners;
        on_error "fail"/"skip"; up, front (the files' axes; "y", None = canonical, see `load_mesh`).
      workers: worker processes (default os.cpu_count()).
      backend: "egl"/"osmesa" (default: probed).
      progress: show tqdm progress bars.

    Returns:
      the manifest dict (status "complete").

    Raises:
      ValueError: bad config, a bad mesh with on_error="fail", or out_dir holding a dataset of another config.
      RuntimeError: no headless OpenGL back-end (the message lists what to install).
    """
    config = _checked(config)
    os.makedirs(out_dir, exist_ok=True)
    manifest = None
    if os.path.isfile(os.path.join(out_dir, MANIFEST)):
        manifest = read_manifest(out_dir, require_complete=False)
        if manifest.get("config_hash") != config_hash(config):
            raise ValueError(f"{out_dir!r} holds a dataset made with another configuration (config hash "
                             f"{manifest.get('config_hash')}); use a new --out directory or delete it")
    for stale in glob.glob(os.path.join(out_dir, "*.tmp-*")):
        os.remove(stale)
    pool = None
    try:
        if manifest is None:
            pool = worker_pool(workers or os.cpu_count(), backend)
            manifest = _new_manifest(config, pool, progress)
            write_manifest(out_dir, manifest)
        jobs = []  # (split, shard name, mesh positions)
        for split, info in manifest["splits"].items():
            per = config["meshes_per_shard"]
            for k, name in enumerate(info["shards"]):
                if not os.path.isfile(os.path.join(out_dir, name)):
                    jobs.append((split, name, range(k * per, min((k + 1) * per, len(info["meshes"])))))
        tasks = [{"spec": manifest["splits"][split]["meshes"][p]["source"], "image_size": config["image_size"],
                  "color": config["color"], "sphere_bandwidth": config["sphere_bandwidth"],
                  **dict(zip(("rotations", "scales"),
                             view_parameters(_view_seed(config, split, p), config["views_per_mesh"],
                                             config["rotations"], config["scale_augment"])))}
                 for split, _, positions in jobs for p in positions]
        if tasks:
            import sphembed.data.records  # noqa: F401  (TensorFlow loads and logs before the progress bar starts)

            pool = pool or worker_pool(workers or os.cpu_count(), backend)
            results = pool.imap(mesh_views, tasks)
            bar = progress_bar(total=len(tasks), desc=f"rendering views -> {out_dir}", unit="mesh",
                               disable=not progress)
            for split, name, positions in jobs:
                shard = []
                for _ in positions:
                    shard.append(next(results))
                    bar.update()
                metas = [manifest["splits"][split]["meshes"][p] for p in positions]
                _write_shard(os.path.join(out_dir, name), shard, metas, split,
                             positions.start * config["views_per_mesh"])
            bar.close()
    finally:
        if pool is not None:
            pool.terminate()
    manifest["pairs"] = _write_pairs(out_dir, manifest)
    manifest["status"] = "complete"
    write_manifest(out_dir, manifest)
    return manifest
