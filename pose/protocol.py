"""The paper's relative-pose protocol (Table 2) for any method mapping input pairs to rotations.

For each dataset (one per rotation regime: a 2DOF and a 3DOF dataset made by `sphembed make-data --rotations`),
each pair kind (IB: two views of one mesh; CB: views of two meshes of one category; pair lists from
`sphembed.data.pairs`), each category and overall: median geodesic error, acc@15, acc@30 (`sphembed.pose.metrics`)
of the estimated R_ab against R_b R_a^T, optionally up to a 180-degree symmetry for named categories.
Inputs come from `sphembed.data.records.make_dataset` (features image / sphere, rotation, category, index).
"""

import json
import os
import warnings

import numpy as np

from sphembed.data.manifest import read_manifest
from sphembed.data.pairs import make_pairs, pair_rows
from sphembed.data.splits import load_split
from sphembed.pose.metrics import pose_errors_deg, summarize
from sphembed.pose.tables import KINDS
from sphembed.progress import progress_bar

__all__ = ["load_pairs", "dataset_label", "estimate_pairs", "evaluate_arrays", "evaluate"]


def load_pairs(data_dir, kind, split="test", partners=3, seed=0):
    """Index pairs [P, 2] (dataset `index` values of views a, b).

    From DIR/pairs-<kind>.json when it was written for the same split, partners and seed (or is a plain list of
    pairs), else from `sphembed.data.pairs.make_pairs`.

    Raises:
      ValueError: for an unknown kind or a pair file that is not a list of [a, b] index pairs.
    """
    if kind not in KINDS:
        raise ValueError(f"pair kind must be one of {KINDS}, got {kind!r}")
    path = os.path.join(data_dir, f"pairs-{kind}.json")
    pairs = None
    if os.path.isfile(path):
        with open(path) as fh:
            stored = json.load(fh)
        if isinstance(stored, list):
            pairs = stored
        elif (stored.get("split", split), stored.get("partners", partners), stored.get("seed", seed)) == (
                split, partners, seed):
            pairs = stored["pairs"]
    if pairs is None:  # no stored list for these settings: make it (deterministic, as make-data does)
        pairs = make_pairs(data_dir, split=split, kind=kind, partners=partners, seed=seed)
    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"{kind} pairs of {data_dir} must be a list of [a, b] index pairs, got shape {pairs.shape}")
    return pairs


def dataset_label(data_dir):
    """"2DOF" / "3DOF" from the dataset manifest's rotation regime, else the directory name."""
    try:
        rotations = read_manifest(data_dir).get("rotations")
    except (OSError, ValueError, AttributeError):
        rotations = None
    return str(rotations).upper() if rotations else os.path.basename(os.path.normpath(data_dir))


def estimate_pairs(method, inputs, rows, batch_size=32, desc="pairs"):
    """Runs method on inputs[rows[:, 0]], inputs[rows[:, 1]] in batches: float64 [P, 3, 3].

    Every call gets exactly `batch_size` pairs (the last batch is padded by repeating its first pair, and the padding
    is dropped), so a method wrapped in tf.function is traced once.
    """
    out = []
    for start in progress_bar(range(0, len(rows), batch_size), desc=desc, unit="batch"):
        r = rows[start:start + batch_size]
        padded = np.concatenate([r, np.repeat(r[:1], batch_size - len(r), axis=0)])
        R = np.asarray(method(inputs[padded[:, 0]], inputs[padded[:, 1]]), dtype=np.float64)
        if R.shape != (batch_size, 3, 3):
            raise ValueError(f"a pose method must return [batch, 3, 3] rotations, got {R.shape} for batch "
                             f"{batch_size}")
        out.append(R[:len(r)])
    return np.concatenate(out) if out else np.zeros((0, 3, 3))


def evaluate_arrays(method_name, method, inputs, rotations, categories, indices, pairs, dataset="dataset",
                    batch_size=32, symmetric=None):
    """Evaluates one method on one dataset held in memory.

    Args:
      method_name: str, the method's row label.
      method: callable (inputs_a [batch, ...], inputs_b [batch, ...]) -> R_ab [batch, 3, 3].
      inputs: array [n, ...] of the method's feature; rotations: [n, 3, 3] object poses; categories: [n] str;
        indices: [n] the dataset `index` of each row.
      pairs: dict {kind: int [P, 2] of index values (a, b)}.
      dataset: str label, e.g. "2DOF" / "3DOF".
      batch_size: int, pairs per method call.
      symmetric: dict {category: axis} of categories whose errors count up to a 180-degree rotation about the
        object axis "x" / "y" / "z".

    Returns:
      (records, errors): records as in `sphembed.pose.tables` (per category and "all"); errors
      {(method, dataset, kind): float64 [P] degrees}.

    Raises:
      ValueError: if a pair names an index that is not in the dataset.
    """
    symmetric = symmetric or {}
    records, errors = [], {}
    for kind, index_pairs in pairs.items():
        rows = pair_rows(indices, index_pairs, f"{kind} pairs", f"the {dataset} data")
        R_hat = estimate_pairs(method, inputs, rows, batch_size, desc=f"{method_name} {kind} {dataset}")
        cats = np.asarray(categories)[rows[:, 0]]
        err = pose_errors_deg(R_hat, rotations[rows[:, 0]], rotations[rows[:, 1]],
                              [symmetric.get(c) for c in cats])
        errors[(method_name, dataset, kind)] = err
        for cat in sorted(set(cats)) + ["all"]:
            sel = np.ones(len(cats), bool) if cat == "all" else cats == cat
            records.append({"method": method_name, "dataset": dataset, "kind": kind, "category": cat,
                            **summarize(err[sel])})
    return records, errors


def evaluate(methods, data_dirs, kinds=KINDS, split="test", batch_size=32, partners=3, seed=0, symmetric=None):
    """Evaluates methods on datasets read from disk.

    Args:
      methods: list of (name, method, feature) with feature "image" or "sphere" (see `sphembed.pose.methods`).
      data_dirs: dict {label: directory} (label e.g. "2DOF"; see `dataset_label`).
      kinds: pair kinds, subset of ("IB", "CB").
      split, batch_size, partners, seed: data split, pairs per call, pair generation options.
      symmetric: dict {category: axis}, see `evaluate_arrays`.

    Returns:
      (records, errors) over all methods and datasets.
    """
    records, errors, seen = [], {}, set()
    for label, data_dir in data_dirs.items():
        pairs = {kind: load_pairs(data_dir, kind, split, partners, seed) for kind in kinds}
        cache = {}
        for name, method, feature in methods:
            if feature not in cache:
                cache[feature] = load_split(data_dir, feature, split)
            data = cache[feature]
            seen.update(data["category"])
            rec, err = evaluate_arrays(name, method, data[feature], data["rotation"], data["category"],
                                       data["index"], pairs, label, batch_size, symmetric)
            records += rec
            errors.update(err)
    unused = sorted(set(symmetric or {}) - seen)
    if unused:
        warnings.warn(f"symmetric categories {unused} are not in the data (categories: {sorted(seen)})")
    return records, errors
