"""The JSON manifest of a `sphembed make-data` dataset directory (TF-free).

`DIR/manifest.json` keys: format, status ("incomplete" while make-data runs, "complete" after), source, layout,
categories (label order), sphere_bandwidth, image_size, channels, color, rotations, views_per_mesh, scale_augment,
seed, camera, object_frame, counts ({split: examples}), splits ({split: {"count", "shards", "meshes": [{mesh_id,
category, label, source}]}}), skipped ([{file, reason}]), files (folder sources: every file, [{file, mesh_id,
category, split, status "used" / "skipped" / "capped", reason (skipped, capped)}]; [] for procedural shapes), config
(the settings that fix the content) and config_hash (sha256 of config). Within a split, example index = mesh
position * views_per_mesh + view. It is written atomically (temporary file, then rename).
"""

import hashlib
import json
import os

__all__ = ["MANIFEST", "read_manifest", "write_manifest", "write_json", "config_hash"]

MANIFEST = "manifest.json"


def config_hash(config):
    """sha256 hex digest of a JSON-serializable config (keys sorted)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def read_manifest(data_dir, require_complete=True):
    """The manifest dict of a dataset directory.

    Raises:
      ValueError: when data_dir has no manifest.json, or (require_complete) make-data has not finished it.
    """
    path = os.path.join(data_dir, MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(f"{data_dir!r} has no {MANIFEST}: it is not a dataset written by `sphembed make-data` "
                         f"(run `sphembed make-data --out {data_dir} ...` first)")
    with open(path) as fh:
        manifest = json.load(fh)
    if require_complete and manifest.get("status") != "complete":
        raise ValueError(f"dataset {data_dir!r} is incomplete (make-data was interrupted); rerun the same "
                         "make-data command to resume it")
    return manifest


def write_json(path, content, indent=None):
    """Writes JSON atomically: to `<path>.tmp-<pid>`, then renamed over path."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(content, fh, indent=indent)
    os.replace(tmp, path)


def write_manifest(data_dir, manifest):
    """Writes DIR/manifest.json atomically."""
    write_json(os.path.join(data_dir, MANIFEST), manifest, indent=1)
