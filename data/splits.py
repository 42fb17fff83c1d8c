"""A split of a `make-data` dataset as a whole: its size from the manifest, or all its examples as numpy arrays."""

import numpy as np

from sphembed.data.records import make_dataset, read_manifest
from sphembed.progress import progress_bar

__all__ = ["split_count", "load_split"]


def split_count(data_dir, split):
    """Number of examples of a split, from the dataset manifest (ValueError for an unknown split)."""
    splits = read_manifest(data_dir)["splits"]
    if split not in splits:
        raise ValueError(f"split must be one of {sorted(splits)} for {data_dir!r}, got {split!r}")
    return int(splits[split]["count"])


def load_split(data_dir, feature, split="test", batch_size=64):
    """All examples of a split as numpy arrays: {feature, "rotation" [n, 3, 3], "category" [n] str, "index" [n]}."""
    ds = make_dataset(data_dir, split, batch_size=batch_size, features=(feature, "rotation", "category", "index"))
    parts = {key: [] for key in (feature, "rotation", "category", "index")}
    for batch in progress_bar(ds, desc=f"reading {split} {feature}s from {data_dir}", unit="batch"):
        for key in parts:
            parts[key].append(batch[key].numpy())
    if not parts["index"]:
        raise ValueError(f"split {split!r} of {data_dir} has no examples")
    out = {key: np.concatenate(value) for key, value in parts.items()}
    out["category"] = np.array([c.decode() if isinstance(c, bytes) else str(c) for c in out["category"]])
    return out
