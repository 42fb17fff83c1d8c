"""SHT throughput: separable (FFT + Legendre) vs dense (one matmul), forward and inverse, complex and real bases.

Usage: python benchmarks/bench_sht.py [--bandwidth 32] [--channels 16] [--batch 16]
Prints a table (maps/s, a map being one [2B, 2B, C] example) and writes benchmarks/results/sht.json. The ratio column is dense time / separable time measured in the same run.
"""

import argparse

import numpy as np
import tensorflow as tf

from common import report, time_call
from sphembed.models.harmonics import isht, sht


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bandwidth", type=int, default=32, help="B; maps are 2B x 2B (default 32: 64 x 64)")
    parser.add_argument("--channels", type=int, default=16, help="C (default 16)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per case (median reported)")
    args = parser.parse_args(argv)
    B, C, N = args.bandwidth, args.channels, args.batch
    x = tf.constant(np.random.default_rng(0).normal(size=(N, 2 * B, 2 * B, C)), tf.float32)
    rows = []
    for basis in ("complex", "real"):
        coeffs = sht(x, basis=basis)
        seconds = {}
        for method in ("separable", "dense"):
            fwd = tf.function(lambda m=method: sht(x, basis=basis, method=m))
            inv = tf.function(lambda m=method: isht(coeffs, B, basis=basis, method=m))
            seconds[method] = (time_call(fwd, args.repeats), time_call(inv, args.repeats))
        for method, (tf_, ti) in seconds.items():
            rows.append({"basis": basis, "method": method, "forward maps/s": N / tf_, "inverse maps/s": N / ti,
                         "forward time / separable": tf_ / seconds["separable"][0],
                         "inverse time / separable": ti / seconds["separable"][1]})
    report("sht", rows, ["basis", "method", "forward maps/s", "inverse maps/s", "forward time / separable",
                         "inverse time / separable"],
           notes=f"2B = {2 * B}, C = {C}, batch {N}, float32, tf.function, CPU threads: TensorFlow default; "
                 "a map is one [2B, 2B, C] example.")


if __name__ == "__main__":
    main()
