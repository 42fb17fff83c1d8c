"""Runs every benchmarks/bench_*.py (each in its own process) and writes one summary.

Usage: python benchmarks/run_all.py [--only NAME ...]
Writes benchmarks/results/summary.json (all result files merged; the benchmarks run now also get "run_seconds", the
wall-clock time of their process) and benchmarks/results/summary.md (their tables). Prints each script's time.
A benchmark that fails makes this script exit non-zero after the others have run.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

from common import RESULTS_DIR

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names to run (e.g. sht pose); default all")
    args = parser.parse_args(argv)
    scripts = sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    if args.only:
        scripts = [s for s in scripts if os.path.basename(s)[6:-3] in args.only]
    failed, seconds = [], {}
    start = time.perf_counter()
    for script in scripts:
        name = os.path.basename(script)
        print(f"== {name}", flush=True)
        begin = time.perf_counter()
        code = subprocess.run([sys.executable, script], cwd=HERE).returncode
        seconds[name[6:-3]] = time.perf_counter() - begin
        print(f"== {name}: {'failed, ' if code else ''}{seconds[name[6:-3]]:.0f} s", flush=True)
        if code:
            failed.append(name)
    results = {}
    for path in sorted(glob.glob(os.path.join(RESULTS_DIR, "*.json"))):
        name = os.path.basename(path)[:-5]
        if name != "summary":
            with open(path) as fh:
                results[name] = json.load(fh)
            if name in seconds:  # bench_<name>.py writes <name>.json
                results[name]["run_seconds"] = round(seconds[name], 1)
            # A result this run did not write (failed, or left out by --only) is marked, never passed off as new.
            if name not in seconds or f"bench_{name}.py" in failed:
                results[name]["stale"] = "from an earlier run" + (": the benchmark failed this time"
                                                                  if f"bench_{name}.py" in failed else "")
    with open(os.path.join(RESULTS_DIR, "summary.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    with open(os.path.join(RESULTS_DIR, "summary.md"), "w") as fh:
        for name, res in results.items():
            stale = f"*Stale: {res['stale']}.*\n\n" if "stale" in res else ""
            fh.write(f"## {name}\n\n{stale}{res.get('table', '')}\n\n{res.get('notes', '')}\n\n")
    print(f"summary: {os.path.join(RESULTS_DIR, 'summary.md')} ({time.perf_counter() - start:.0f} s in all)")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
