"""Evaluation pair lists (paper protocol): each test view against `partners` random partners. TF-free.

  IB (instance-based): the partners are other views (other poses) of the same mesh.
  CB (category-based): the partners are views of other meshes of the same category (consistently aligned meshes).
Pairs are (index_a, index_b) of example `index` values within one split (index = mesh position * views_per_mesh +
view); the ground-truth relative pose is R_ab = R_b R_a^T (`relative_rotations`). Partners of one view are
distinct; equal (dataset, split, kind, partners, seed) give equal pairs. Views whose category has a single mesh
in the split have no CB partner; `make_pairs` leaves them out and `pair_file` lists those categories.
"""

import numpy as np

from sphembed.data.manifest import read_manifest

__all__ = ["KINDS", "make_pairs", "pair_rows", "relative_rotations", "pair_file"]

KINDS = ("IB", "CB")


def _pairs(mesh_categories, views, kind, partners, seed):
    """[P, 2] int64 pairs for meshes with categories `mesh_categories` [M] and `views` views each."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    mesh_of = np.repeat(np.arange(len(mesh_categories)), views)
    category_of = np.asarray(mesh_categories, dtype=object)[mesh_of]
    rows = []
    for a in range(len(mesh_of)):
        if kind == "IB":
            candidates = np.flatnonzero(mesh_of == mesh_of[a])
            candidates = candidates[candidates != a]
        else:
            candidates = np.flatnonzero((category_of == category_of[a]) & (mesh_of != mesh_of[a]))
        if len(candidates):
            chosen = rng.choice(candidates, size=min(partners, len(candidates)), replace=False)
            rows += [(a, int(b)) for b in chosen]
    return np.asarray(rows, np.int64).reshape(-1, 2)


def make_pairs(data_dir, split="test", kind="IB", partners=3, seed=0):
    """Pair list of a dataset split.

    Args:
      data_dir: dataset directory written by `sphembed make-data`.
      split: split name.
      kind: "IB" (same mesh, two poses) or "CB" (two meshes of a category).
      partners: partners per view (fewer when fewer candidates exist).
      seed: pair sampling seed.

    Returns:
      np.int64 [P, 2]: rows (index_a, index_b); R_ab = R_b R_a^T.

    Raises:
      ValueError: unknown kind or split, partners < 1, or IB pairs with one view per mesh.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if partners < 1:
        raise ValueError(f"partners must be >= 1, got {partners}")
    manifest = read_manifest(data_dir, require_complete=False)
    if split not in manifest["splits"]:
        raise ValueError(f"split must be one of {sorted(manifest['splits'])} for {data_dir!r}, got {split!r}")
    views = manifest["views_per_mesh"]
    if kind == "IB" and views < 2:
        raise ValueError(f"IB pairs need >= 2 views per mesh; {data_dir!r} has views_per_mesh={views}")
    categories = [m["category"] for m in manifest["splits"][split]["meshes"]]
    return _pairs(categories, views, kind, partners, seed)


def pair_rows(indices, pairs, what="pairs", where="the data"):
    """The rows (a, b) of index pairs in arrays whose row r holds the example with dataset `index` indices[r].

    Args:
      indices: int [n], the `index` of each row (e.g. `load_split(...)["index"]`).
      pairs: int [P, 2] example index pairs (`make_pairs`).
      what, where: how the error message names the pairs and the arrays.

    Returns:
      np.int64 [P, 2] row pairs.

    Raises:
      ValueError: naming (up to 10) pair indices that are not in `indices`.
    """
    row_of = {int(i): r for r, i in enumerate(np.ravel(indices))}
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    missing = sorted({int(i) for i in np.ravel(pairs)} - set(row_of))
    if missing:
        raise ValueError(f"{what} name indices missing from {where}: {missing[:10]}")
    return np.array([[row_of[int(a)], row_of[int(b)]] for a, b in pairs], np.int64).reshape(-1, 2)


def relative_rotations(rotations, pairs):
    """R_ab = R_b R_a^T: rotations float [N, 3, 3] indexed by example index, pairs int [P, 2] -> [P, 3, 3]."""
    rotations = np.asarray(rotations)
    return np.einsum("pij,pkj->pik", rotations[pairs[:, 1]], rotations[pairs[:, 0]])


def pair_file(pairs, kind, split, partners, seed, categories, mesh_categories, rotations):
    """The JSON content of DIR/pairs-<kind>.json: pairs, R_ab (row-major [P, 9]) and categories left out."""
    counts = {c: mesh_categories.count(c) for c in categories}
    return {"kind": kind, "split": split, "partners": partners, "seed": seed,
            "pairs": pairs.tolist(), "R_ab": relative_rotations(rotations, pairs).reshape(-1, 9).round(7).tolist(),
            "categories_without_pairs": [c for c in categories if kind == "CB" and counts[c] == 1]}
