"""TFRecord examples of a `sphembed make-data` dataset, its JSON manifest, and the tf.data reader.

A dataset directory holds `manifest.json` and shards `<split>-<k:05d>-of-<n:05d>.tfrecord`. Each example (one view
of one mesh) has the features
  image     bytes: uint8 [H, W, c] raw (c = 1 gray, 3 rgb)      depth  bytes: float32 [H, W] raw (little-endian)
  mask      bytes: uint8 [H, W] raw (1 object, 0 background)      sphere bytes: float32 [2B, 2B, 2] raw, the sphere
            map of the ROTATED mesh (`sphembed.data.spheremap`)
  rotation  float [9]: row-major R; the view renders vertices R v     label  int64: index into manifest categories
  mesh_id, category, split  bytes                                    index  int64: position within its split
Within a split, example `index = mesh_position * views_per_mesh + view`, and shards hold whole meshes in order.
`make_dataset` returns dicts: image float32 [H, W, c] in [0, 1], sphere float32 [2B, 2B, 2], rotation float32
[3, 3], label int32, depth float32 [H, W], mask uint8 [H, W], mesh_id / category tf.string, index int64 (with a
leading batch axis when batch_size is given).
"""

import os

import numpy as np
import tensorflow as tf

from sphembed.data.manifest import MANIFEST, read_manifest

__all__ = ["FEATURES", "MANIFEST", "read_manifest", "serialize_example", "make_dataset"]

FEATURES = ("image", "depth", "mask", "sphere", "rotation", "label", "mesh_id", "category", "split", "index")

_RAW = {"image": tf.uint8, "depth": tf.float32, "mask": tf.uint8, "sphere": tf.float32}


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def serialize_example(image, depth, mask, sphere, rotation, label, mesh_id, category, split, index):
    """One serialized tf.train.Example (shapes as in the module docstring; strings are str)."""
    feature = {
        "image": _bytes(np.ascontiguousarray(image, np.uint8).tobytes()),
        "depth": _bytes(np.ascontiguousarray(depth, "<f4").tobytes()),
        "mask": _bytes(np.ascontiguousarray(mask, np.uint8).tobytes()),
        "sphere": _bytes(np.ascontiguousarray(sphere, "<f4").tobytes()),
        "rotation": tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(rotation, np.float32).ravel())),
        "label": _int(label),
        "mesh_id": _bytes(mesh_id.encode()),
        "category": _bytes(category.encode()),
        "split": _bytes(split.encode()),
        "index": _int(index),
    }
    # deterministic: map entries sorted by key; otherwise their order follows the process's string hashing, and a
    # dataset resumed in a new process would not be byte-identical to one made in one go.
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def _shapes(manifest):
    n, B2 = manifest["image_size"], 2 * manifest["sphere_bandwidth"]
    return {"image": [n, n, manifest["channels"]], "depth": [n, n], "mask": [n, n], "sphere": [B2, B2, 2],
            "rotation": [3, 3]}


def make_dataset(data_dir, split, batch_size=None, shuffle=False, seed=0,
                 features=("image", "sphere", "rotation", "label"), repeat=False):
    """tf.data pipeline over one split of a make-data dataset, ready for Keras fit.

    Args:
      data_dir: dataset directory (with manifest.json).
      split: "train" or "test" (a split named in the manifest).
      batch_size: None for single examples, else batches (the last one may be smaller).
      shuffle: shuffle examples (buffer of one epoch up to 10000) with `seed`, reshuffled each epoch.
      seed: shuffle seed.
      features: names from FEATURES to return.
      repeat: repeat forever.

    Returns:
      tf.data.Dataset of dicts (see module docstring for dtypes and shapes).

    Raises:
      ValueError: missing/incomplete manifest, missing shard, unknown split or feature.
    """
    manifest = read_manifest(data_dir)
    if split not in manifest["splits"]:
        raise ValueError(f"split must be one of {sorted(manifest['splits'])} for {data_dir!r}, got {split!r}")
    unknown = sorted(set(features) - set(FEATURES))
    if unknown:
        raise ValueError(f"unknown features {unknown}; available: {FEATURES}")
    info = manifest["splits"][split]
    files = [os.path.join(data_dir, name) for name in info["shards"]]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise ValueError(f"dataset {data_dir!r} lacks {len(missing)} shard(s), e.g. {missing[0]}; rerun the make-data "
                         "command that wrote it to rebuild them")
    shapes = _shapes(manifest)
    spec = {}
    for name in features:
        if name == "rotation":
            spec[name] = tf.io.FixedLenFeature([9], tf.float32)
        elif name in ("label", "index"):
            spec[name] = tf.io.FixedLenFeature([], tf.int64)
        else:
            spec[name] = tf.io.FixedLenFeature([], tf.string)

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        lead = tf.shape(serialized)
        out = {}
        for name in features:
            value = ex[name]
            if name in _RAW:
                value = tf.reshape(tf.io.decode_raw(value, _RAW[name], little_endian=True),
                                   tf.concat([lead, shapes[name]], 0))
                if name == "image":
                    value = tf.cast(value, tf.float32) / 255.0
            elif name == "rotation":
                value = tf.reshape(value, tf.concat([lead, [3, 3]], 0))
            elif name == "label":
                value = tf.cast(value, tf.int32)
            out[name] = value
        return out

    with tf.name_scope("make_dataset"):
        ds = tf.data.TFRecordDataset(files)
        if shuffle:
            ds = ds.shuffle(min(max(info["count"], 1), 10000), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        if batch_size is not None:
            ds = ds.batch(batch_size)
        return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
