"""Evaluation of novel-view synthesis on held-out meshes (issue 7): PSNR, SSIM, silhouette IoU, per category.

For pairs (a, b) of rendered views of one held-out mesh (poses R_a, R_b; pairs from `sphembed.data.pairs`, "IB"),
the view b is synthesized from view a and the rotation R_ab = R_b R_a^T: G(Lambda_{R_ab} E(I_a)), and compared with
the rendered I_b. Rows:
  * "synthesized": G(Lambda_{R_ab} E(I_a)) vs I_b;
  * "input view (baseline)": I_a vs I_b (the trivial method that returns its input);
  * "reconstruction": G(E(I_a)) vs I_a (no rotation: the autoencoding quality bound);
  * "from targets (oracle)", when the spherical-CNN targets T are given: G(Lambda_{R_ab} T_a) vs I_b, i.e. the
    synthesizer fed the exact embedding of view a (separates the EmbeddingNet's error from the synthesizer's).
Metrics (images in [0, 1]): PSNR (tf.image.psnr, max 1), SSIM (tf.image.ssim, max 1, 11x11 Gaussian window) and the
IoU of silhouettes, silhouette = max over channels > SILHOUETTE_THRESHOLD (the background renders as 0). Results
are per category and "all", and per rotation-angle bin. `write_report` writes JSON, a markdown report and PNG
grids (input | rendered target | synthesized) a person can look at.
"""

import json
import os

import numpy as np
import tensorflow as tf

from sphembed.data.pairs import make_pairs, pair_rows
from sphembed.data.splits import load_split
from sphembed.progress import progress_bar
from sphembed.report import markdown_table
from sphembed.synthesis.novel_view import synthesize_views
from sphembed.synthesis.rotate import rotate_embedding
from sphembed.synthesis.visualize import image_grid, save_png

__all__ = ["SILHOUETTE_THRESHOLD", "ANGLE_BINS", "image_metrics", "evaluate_synthesis", "write_report"]

SILHOUETTE_THRESHOLD = 0.1
ANGLE_BINS = (0.0, 45.0, 90.0, 180.0)
ROWS = ("synthesized", "input view (baseline)", "reconstruction", "from targets (oracle)")


def image_metrics(pred, true):
    """Per-image PSNR, SSIM and silhouette IoU.

    Args:
      pred, true: float32 [batch, H, W, c] in [0, 1] (H, W >= 11 for SSIM's window).

    Returns:
      dict {"psnr", "ssim", "iou"} of float64 [batch] (IoU is 1 when both silhouettes are empty).
    """
    pred = tf.clip_by_value(tf.convert_to_tensor(pred, tf.float32), 0.0, 1.0)
    true = tf.convert_to_tensor(true, tf.float32)
    sp = tf.reduce_max(pred, axis=-1) > SILHOUETTE_THRESHOLD
    st = tf.reduce_max(true, axis=-1) > SILHOUETTE_THRESHOLD
    inter = tf.reduce_sum(tf.cast(sp & st, tf.float32), axis=[1, 2])
    union = tf.reduce_sum(tf.cast(sp | st, tf.float32), axis=[1, 2])
    iou = tf.where(union > 0, inter / tf.maximum(union, 1.0), 1.0)
    return {"psnr": tf.image.psnr(pred, true, 1.0).numpy().astype(np.float64),
            "ssim": tf.image.ssim(pred, true, 1.0).numpy().astype(np.float64),
            "iou": iou.numpy().astype(np.float64)}


def _angle_deg(R):
    return np.degrees(np.arccos(np.clip((np.trace(R, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))


def evaluate_synthesis(embedding_model, synthesizer, data_dir, split="test", partners=3, seed=0, batch_size=32,
                       examples_per_category=4, targets=None):
    """Metrics of synthesized views vs rendered ground truth and vs the input-view baseline (module docstring).

    Args:
      embedding_model, synthesizer: E and G (Keras models or callables with `training`).
      data_dir: dataset directory; split: held-out split.
      partners, seed: view pairs per view and seed of the pair lists ("IB" pairs of `sphembed.data.pairs`).
      batch_size: pairs per call.
      examples_per_category: pairs per category kept as images for the report.
      targets: optional float32 [n, 2b, 2b, C], the spherical-CNN targets of the split's examples in dataset order
        (`sphembed.models.train.embedding.target_dataset`); adds the oracle row.

    Returns:
      (results, examples): results {"pairs", "per_category": {cat: {row: {metric: mean}}}, "per_angle":
      {bin: {row: {metric: mean}}}}; examples {cat: float32 [k, 3 or 4, H, W, c]} (input, rendered target,
      synthesized, and synthesized from the targets when given).
    """
    data = load_split(data_dir, "image", split, batch_size)
    rows = pair_rows(data["index"], make_pairs(data_dir, split=split, kind="IB", partners=partners, seed=seed))
    images, rotations = data["image"].astype(np.float32), data["rotation"]
    rows_used = ROWS if targets is not None else ROWS[:-1]
    metrics = {row: {"psnr": [], "ssim": [], "iou": []} for row in rows_used}
    synthesized, oracle = [], []
    for start in progress_bar(range(0, len(rows), batch_size), desc="synthesizing held-out views", unit="batch"):
        a, b = rows[start:start + batch_size, 0], rows[start:start + batch_size, 1]
        R = np.einsum("nij,nkj->nik", rotations[b], rotations[a]).astype(np.float32)
        views = synthesize_views(images[a], R, embedding_model, synthesizer).numpy()
        recon = synthesize_views(images[a], np.eye(3, dtype=np.float32), embedding_model, synthesizer).numpy()
        synthesized.append(views)
        pairs_of_row = [(views, images[b]), (images[a], images[b]), (recon, images[a])]
        if targets is not None:
            oracle.append(synthesizer(rotate_embedding(targets[a], R), training=False).numpy())
            pairs_of_row.append((oracle[-1], images[b]))
        for row, (pred, true) in zip(rows_used, pairs_of_row):
            for key, value in image_metrics(pred, true).items():
                metrics[row][key].append(value)
    metrics = {row: {k: np.concatenate(v) for k, v in m.items()} for row, m in metrics.items()}
    columns = [np.concatenate(synthesized)] + ([np.concatenate(oracle)] if oracle else [])
    cats = data["category"][rows[:, 0]]
    angles = _angle_deg(np.einsum("nij,nkj->nik", rotations[rows[:, 1]], rotations[rows[:, 0]]))

    def summary(mask):
        return {row: {k: float(v[mask].mean()) for k, v in m.items()} | {"pairs": int(mask.sum())}
                for row, m in metrics.items()}

    per_category = {str(cat): summary(cats == cat) for cat in sorted(set(cats))}
    per_category["all"] = summary(np.ones(len(rows), bool))
    per_angle = {}
    for lo, hi in zip(ANGLE_BINS[:-1], ANGLE_BINS[1:]):
        mask = (angles >= lo) & (angles < hi) if hi < ANGLE_BINS[-1] else (angles >= lo)
        if mask.any():
            per_angle[f"{lo:g}-{hi:g} deg"] = summary(mask)
    examples = {}
    for cat in sorted(set(cats)):
        pick = np.flatnonzero(cats == cat)[:examples_per_category]
        examples[str(cat)] = np.stack([images[rows[pick, 0]], images[rows[pick, 1]]]
                                      + [np.clip(c[pick], 0, 1) for c in columns], axis=1)
    return {"split": split, "pairs": int(len(rows)), "per_category": per_category, "per_angle": per_angle}, examples


def _table(groups, label):
    return markdown_table([label, "method", "PSNR (dB)", "SSIM", "silhouette IoU", "pairs"],
                          [[name, row, f"{rows[row]['psnr']:.2f}", f"{rows[row]['ssim']:.3f}",
                            f"{rows[row]['iou']:.3f}", rows[row]["pairs"]]
                           for name, rows in groups.items() for row in ROWS if row in rows])


def write_report(results, examples, out_dir, turntables=None, title="Novel-view synthesis"):
    """Writes OUT/synthesis_eval.json, OUT/synthesis_report.md and PNG grids (OUT/images/*.png); returns the md path.

    Args:
      results, examples: from `evaluate_synthesis`.
      out_dir: output directory (created).
      turntables: optional {name: float [rows, cols, H, W, c]} extra grids (e.g. turntables of a few inputs).
      title: report heading.
    """
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    with open(os.path.join(out_dir, "synthesis_eval.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    lines = [f"# {title}", "",
             f"Held-out split `{results['split']}`, {results['pairs']} view pairs of the same mesh. Synthesized: "
             "G(Lambda_R E(I_a)) vs the rendered I_b with R = R_b R_a^T; baseline: I_a itself vs I_b; "
             "reconstruction: G(E(I_a)) vs I_a (no rotation); from targets (oracle, when present): G(Lambda_R T_a) "
             "vs I_b with the spherical-CNN target T_a in place of E(I_a). Higher is better for every metric.", "",
             "## Per category", "", _table(results["per_category"], "category"), "",
             "## Per rotation angle", "", _table(results["per_angle"], "angle |R_ab|"), "",
             "## Examples", "", "Each row: input view | rendered target view | synthesized view (| synthesized from the "
             "spherical-CNN target of the input view).", ""]
    for cat, grid in examples.items():
        name = f"images/examples_{cat}.png"
        save_png(image_grid(grid), os.path.join(out_dir, name))
        lines += [f"**{cat}**", "", f"![{cat}]({name})", ""]
    for key, grid in (turntables or {}).items():
        name = f"images/{key}.png"
        save_png(image_grid(grid), os.path.join(out_dir, name))
        lines += [f"**{key}**", "", f"![{key}]({name})", ""]
    path = os.path.join(out_dir, "synthesis_report.md")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path
