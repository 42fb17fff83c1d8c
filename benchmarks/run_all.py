"""Runs every benchmarks/bench_*.py (each in its own process) and writes one summary.

Usage: python benchmarks/run_all.py [--only NAME ...]
Writes benchmarks/results/summary.json (all result files merged) and benchmarks/results/summary.md (their tables).
A benchmark that fails makes this script exit non-zero after the others have run.
"""

import argparse
import glob
import json
import os
import subprocess
import sys

from common import RESULTS_DIR

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names to run (e.g. sht pose); default all")
    args = parser.parse_args(argv)
    scripts = sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    if args.only:
        scripts = [s for s in scripts if os.path.basename(s)[6:-3] in args.only]
    failed = []
    for script in scripts:
        print(f"== {os.path.basename(script)}", flush=True)
        if subprocess.run([sys.executable, script], cwd=HERE).returncode:
            failed.append(os.path.basename(script))
    results = {}
    for path in sorted(glob.glob(os.path.join(RESULTS_DIR, "*.json"))):
        if os.path.basename(path) != "summary.json":
            with open(path) as fh:
                results[os.path.basename(path)[:-5]] = json.load(fh)
    with open(os.path.join(RESULTS_DIR, "summary.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    with open(os.path.join(RESULTS_DIR, "summary.md"), "w") as fh:
        for name, res in results.items():
            fh.write(f"## {name}\n\n{res.get('table', '')}\n\n{res.get('notes', '')}\n\n")
    print(f"summary: {os.path.join(RESULTS_DIR, 'summary.md')}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
