"""Shared benchmark plumbing: wall-clock timing of a callable and the table + JSON every benchmark writes."""

import json
import os
import platform
import time

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def time_call(fn, repeats=5, warmup=1, min_seconds=0.0):
    """Median wall-clock seconds of one fn() call over `repeats` samples after `warmup` untimed calls; each sample
    runs fn() until at least min_seconds have passed and counts the mean time per call (for calls of ~1 ms, whose
    single timings scatter with the machine's noise)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        times.append(elapsed / calls)
    return sorted(times)[len(times) // 2]


def report(name, rows, columns, notes="", extra=None):
    """Prints rows (list of dicts) as a markdown table and writes benchmarks/results/<name>.json (plus the keys of
    `extra`, a dict of further JSON-serializable results)."""
    header = "| " + " | ".join(columns) + " |"
    lines = [header, "|" + "---|" * len(columns)]
    for row in rows:
        cells = [f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(f"## {name}\n\n{table}\n" + (f"\n{notes}\n" if notes else ""))
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    with open(path, "w") as fh:
        json.dump({"name": name, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                   "columns": columns, "rows": rows, "notes": notes, "table": table, **(extra or {})}, fh, indent=2)
    return path
