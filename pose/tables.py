"""Relative-pose result tables in the layout of the paper's Table 2, as markdown, CSV and JSON, plus error histograms.

A record is one summary cell group: {"method", "dataset" (e.g. "2DOF", "3DOF"), "kind" ("IB" instance-based /
"CB" category-based), "category" (a category name or "all"), "n", "median", "acc@15", "acc@30", "flip@30"} (median in
degrees, fractions in percent; flip@30: errors within 30 degrees of a half turn). Markdown: one row block per
method, one row per category (then "all"), and for each (kind, dataset) column group the four numbers med / acc@15 /
acc@30 / flip@30. CSV and JSON hold the records as they are.
numpy + matplotlib (Agg backend) only; no TensorFlow import.
"""

import csv
import json
import os

import numpy as np

from sphembed import report
from sphembed.pose.metrics import FLIP_DEG, THRESHOLDS_DEG

__all__ = ["RECORD_FIELDS", "KINDS", "table_rows", "markdown_table", "write_csv", "write_json", "plot_error_histograms",
           "write_report"]

KINDS = ("IB", "CB")
STATS = ("median",) + tuple(f"acc@{t:g}" for t in THRESHOLDS_DEG) + (f"flip@{FLIP_DEG:g}",)
RECORD_FIELDS = ("method", "dataset", "kind", "category", "n") + STATS


def _ordered(values, first=()):
    values = list(dict.fromkeys(values))
    return [v for v in first if v in values] + sorted(v for v in values if v not in first)


def _groups(records):
    return [(k, d) for k in _ordered([r["kind"] for r in records], KINDS)
            for d in _ordered([r["dataset"] for r in records]) if any(r["kind"] == k and r["dataset"] == d
                                                                      for r in records)]


def table_rows(records):
    """The Table-2 layout as (column names, rows of str cells); empty cells where a method lacks a group."""
    groups = _groups(records)
    cell = {(r["method"], r["category"], r["kind"], r["dataset"]): r for r in records}
    head = ["method", "category"] + [f"{k} {d} {s.replace('median', 'med err')}" for k, d in groups for s in STATS]
    rows = []
    for method in _ordered([r["method"] for r in records]):
        cats = _ordered([r["category"] for r in records if r["method"] == method])
        cats = [c for c in cats if c != "all"] + (["all"] if "all" in cats else [])
        for i, cat in enumerate(cats):
            row = [method if i == 0 else "", cat]
            for k, d in groups:
                r = cell.get((method, cat, k, d))
                row += [f"{r[s]:.2f}" if r and np.isfinite(r[s]) else "" for s in STATS]
            rows.append(row)
    return head, rows


def markdown_table(records):
    """The Table-2 layout as a markdown string (see `table_rows`)."""
    return report.markdown_table(*table_rows(records))


def write_csv(records, path):
    """One row per record, columns RECORD_FIELDS."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RECORD_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    return path


def write_json(records, path, meta=None):
    """{"records": [...], "table": markdown, **meta}."""
    with open(path, "w") as fh:
        json.dump({**(meta or {}), "records": list(records), "table": markdown_table(records)}, fh, indent=2)
    return path


def plot_error_histograms(errors, path, bin_deg=5.0):
    """Histograms of errors in degrees, one panel per (kind, dataset), one step curve per method.

    Args:
      errors: dict {(method, dataset, kind): float array [n] of degrees}.
      path: output PNG path.
      bin_deg: bin width in degrees over [0, 180].
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _groups([{"kind": k, "dataset": d} for (_, d, k) in errors])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    bins = np.arange(0.0, 180.0 + bin_deg, bin_deg)
    for ax, (kind, dataset) in zip(axes[0], panels):
        for (method, d, k), e in sorted(errors.items()):
            if (k, d) == (kind, dataset) and len(e):
                ax.hist(e, bins=bins, histtype="step", linewidth=1.5, label=method,
                        weights=np.full(len(e), 100.0 / len(e)))
        for t in THRESHOLDS_DEG:
            ax.axvline(t, color="gray", linestyle=":", linewidth=1)
        ax.set(title=f"{kind} {dataset}", xlabel="geodesic error (degrees)", ylabel="% of pairs", xlim=(0, 180))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(records, errors, out_dir, meta=None):
    """Writes pose_table.md, pose_results.csv, pose_results.json and pose_errors.png into out_dir; returns paths."""
    os.makedirs(out_dir, exist_ok=True)
    md = os.path.join(out_dir, "pose_table.md")
    with open(md, "w") as fh:
        fh.write(markdown_table(records) + "\n")
    return {"markdown": md,
            "csv": write_csv(records, os.path.join(out_dir, "pose_results.csv")),
            "json": write_json(records, os.path.join(out_dir, "pose_results.json"), meta),
            "histogram": plot_error_histograms(errors, os.path.join(out_dir, "pose_errors.png"))}
