"""Where `sphembed eval-pose` spends its time on a demo run: loading, the embedding network, the alignment.

Usage: python benchmarks/bench_eval_pose.py [--run runs/demo] [--batch-size 32] [--out-bandwidth 32] [--command]
       [--label LABEL]
RUN is a `sphembed demo` run directory (at least `--until pose-hub`: data/2dof, data/3dof and embedding/); without
one the benchmark says so and exits. The
protocol's work is replayed part by part on the same pairs as eval-pose (IB and CB test pairs of both datasets, the
demo preset's batch of 32 pairs per call): loading (reading the test splits' images and sphere maps, loading the
embedding network), the network (embedding both images of every pair, as `relative_pose` does) and the alignment
of the two methods that align (embedding: align(E(I_b), E(I_a)); oracle-sphere: align(S_b, S_a)), each timed alone.
With --command it also times the whole `sphembed eval-pose --method embedding --method oracle-sphere` command.
Writes benchmarks/results/eval_pose.json, one row per --label (a new run replaces its label's row). The script calls
only APIs that predate the coarse-to-fine alignment, so running it with an older checkout first on PYTHONPATH
(--label before) measures the split before the change next to this checkout's.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from common import RESULTS_DIR, report


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runs", "demo"),
                        help="a `sphembed demo` run directory (default runs/demo)")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per call (the demo preset's 32)")
    parser.add_argument("--out-bandwidth", type=int, default=32, help="B' (the demo preset's 32)")
    parser.add_argument("--command", action="store_true", help="also time the whole eval-pose command")
    parser.add_argument("--label", default="this checkout", help="the row label (e.g. before / after)")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.run, "embedding")):
        print(f"bench_eval_pose: no demo run at {args.run} (make demo, or pass --run): skipped")
        return
    import_start = time.perf_counter()
    import tensorflow as tf

    import sphembed
    from sphembed.data.pairs import pair_rows
    from sphembed.pose.alignment import align
    from sphembed.data.splits import load_split
    from sphembed.pose.protocol import load_pairs
    from sphembed.pose.relative import call_model, load_model

    t_import = time.perf_counter() - import_start
    datasets = {regime: os.path.join(args.run, "data", regime) for regime in ("2dof", "3dof")}
    (data, net), t_load = _timed(lambda: ({k: (load_split(d, "image"), load_split(d, "sphere"), d)
                                           for k, d in datasets.items()}, load_model(os.path.join(args.run,
                                                                                                  "embedding"))))
    embed = tf.function(lambda x: call_model(net, x), autograph=False)
    n = args.batch_size
    t_net = t_align = t_oracle = 0.0
    pairs_total = 0
    for images, spheres, data_dir in data.values():
        for kind in ("IB", "CB"):
            rows = pair_rows(images["index"], load_pairs(data_dir, kind), f"{kind} pairs", data_dir)
            pairs_total += len(rows)
            for start in range(0, len(rows), n):
                r = rows[start:start + n]
                r = np.concatenate([r, np.repeat(r[:1], n - len(r), axis=0)])  # eval-pose pads the last batch
                both = np.concatenate([images["image"][r[:, 0]], images["image"][r[:, 1]]])
                emb, t = _timed(lambda: embed(both).numpy())
                t_net += t
                _, t = _timed(lambda: align(emb[n:], emb[:n], args.out_bandwidth, True)[0].numpy())
                t_align += t
                s = spheres["sphere"]
                _, t = _timed(lambda: align(s[r[:, 1]], s[r[:, 0]], args.out_bandwidth, True)[0].numpy())
                t_oracle += t
    row = {"code": args.label, "pairs": pairs_total, "import TF + sphembed s": t_import, "loading s": t_load,
           "network s": t_net, "alignment (embedding) s": t_align, "alignment (oracle-sphere) s": t_oracle,
           "package": os.path.dirname(sphembed.__file__)}
    if args.command:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "sphembed", "eval-pose", "--data", f"2DOF={datasets['2dof']}", "--data",
                   f"3DOF={datasets['3dof']}", "--method", "embedding", "--method", "oracle-sphere", "--model",
                   f"embedding={os.path.join(args.run, 'embedding')}", "--out", tmp]
            _, row["eval-pose command s"] = _timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
    row["load average"] = round(os.getloadavg()[0], 1)
    path = os.path.join(RESULTS_DIR, "eval_pose.json")
    rows = []
    if os.path.isfile(path):
        with open(path) as fh:
            rows = [r for r in json.load(fh)["rows"] if r.get("code") != args.label and set(r) == set(row)]
    report("eval_pose", rows + [row], list(row), notes=f"run {args.run}; batches of {n} pairs, B' = {args.out_bandwidth}, "
           "refined; every part timed alone in one process (first calls, i.e. tracing and compiling, included).")


if __name__ == "__main__":
    main()
