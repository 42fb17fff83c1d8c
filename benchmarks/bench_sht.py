"""SHT throughput and efficiency: separable vs dense, forward and inverse, complex and real bases, against the roofline.

Usage: python benchmarks/bench_sht.py [--bandwidth 32] [--channels 16] [--batch 16] [--repeats 5]
Prints two tables and writes benchmarks/results/sht.json:
  * maps/s (a map is one [2B, 2B, C] example) of each transform under tf.function, and for the separable one its
    achieved GFLOP/s next to a float32 matmul of the same FLOP count measured in the same run (the machine's
    practical roofline). The FLOP count is the textbook separable transform of real maps, the same for forward and
    inverse: a real FFT over phi (2.5 N log2 N per row of N = 2B) plus the Legendre sums of the real and imaginary
    parts for m = 0..L-1 (2 x 2 x 2B x L x L per channel), whatever the implementation executes.
  * where the separable forward transform's time goes: its input and output copied once (the memory floor), and its
    two matmuls (the phi DFT and the Legendre sums) alone on operands already in their layout (the compute floor).
"""

import argparse

import numpy as np
import tensorflow as tf

from common import report, time_call
from sphembed.models.sphere.harmonics import isht, sht


def nominal_flop(B, L, C):
    """FLOP of one separable transform of a [2B, 2B, C] map (module docstring)."""
    N = 2 * B
    return C * (N * 2.5 * N * np.log2(N) + 2 * 2 * N * L * L)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bandwidth", type=int, default=32, help="B; maps are 2B x 2B (default 32: 64 x 64)")
    parser.add_argument("--channels", type=int, default=16, help="C (default 16)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per case (median reported)")
    args = parser.parse_args(argv)
    B, C, N = args.bandwidth, args.channels, args.batch
    L = B
    x = tf.constant(np.random.default_rng(0).normal(size=(N, 2 * B, 2 * B, C)), tf.float32)
    flop = N * nominal_flop(B, L, C)
    n = int(round((flop / 2) ** (1 / 3)))
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    roof = 2 * n ** 3 / time_call(tf.function(lambda: tf.matmul(a, b)), args.repeats) / 1e9
    rows = []
    for basis in ("complex", "real"):
        coeffs = sht(x, basis=basis)
        for method in ("separable", "dense"):
            for jit in (False, True) if method == "separable" else (False,):
                fwd = tf.function(lambda m=method: sht(x, basis=basis, method=m), jit_compile=jit)
                inv = tf.function(lambda m=method: isht(coeffs, B, basis=basis, method=m), jit_compile=jit)
                tf_, ti = time_call(fwd, args.repeats), time_call(inv, args.repeats)
                row = {"basis": basis, "method": method, "XLA": jit, "forward maps/s": N / tf_,
                       "inverse maps/s": N / ti}
                if method == "separable":
                    row.update({"forward GFLOP/s": flop / tf_ / 1e9, "inverse GFLOP/s": flop / ti / 1e9,
                                "matmul GFLOP/s": roof, "forward / matmul": flop / tf_ / 1e9 / roof,
                                "inverse / matmul": flop / ti / 1e9 / roof})
                rows.append(row)
    columns = ["basis", "method", "XLA", "forward maps/s", "inverse maps/s", "forward GFLOP/s", "inverse GFLOP/s",
               "matmul GFLOP/s", "forward / matmul", "inverse / matmul"]
    for row in rows:
        row.update({c: "" for c in columns if c not in row})
    # Floors of the separable forward transform (complex basis): memory traffic and matmuls alone.
    out = tf.zeros([N, C, L, 2 * L - 1], tf.complex64)
    dft = tf.random.normal([2 * L, 2 * B])
    legendre = tf.random.normal([L, L, 2 * B])
    columns_in = tf.random.normal([2 * B, 2 * B * N * C])
    legendre_in = tf.random.normal([2, L, 2 * B, N * C])
    t_total = time_call(tf.function(lambda: sht(x)), args.repeats)
    floors = {
        "the whole transform": t_total,
        "memory floor: copy the input and the output once": time_call(tf.function(lambda: (x + 1, out + 1)),
                                                                       args.repeats),
        "compute floor: phi DFT matmul alone": time_call(tf.function(lambda: tf.matmul(dft, columns_in)),
                                                           args.repeats),
        "compute floor: Legendre matmuls alone": time_call(tf.function(lambda: tf.matmul(legendre[None],
                                                                                           legendre_in)),
                                                             args.repeats),
    }
    profile = [{"part": k, "ms per batch": 1000 * v, "share of the transform": v / t_total}
               for k, v in floors.items()]
    report("sht", rows, columns, extra={"profile": profile},
                  notes=f"2B = {2 * B}, C = {C}, batch {N}, float32, tf.function (XLA where marked), CPU threads: "
                        f"TensorFlow default; a map is one [2B, 2B, C] example; GFLOP/s of the separable transform "
                        f"count {nominal_flop(B, L, C) / 1e6:.2f} MFLOP per map; the roofline is a {n} x {n} float32 "
                        "matmul of the same FLOP count in the same run.")
    print("| part of the separable forward transform | ms per batch | share of the transform |\n|---|---|---|")
    for p in profile:
        print(f"| {p['part']} | {p['ms per batch']:.3g} | {p['share of the transform']:.2f} |")


if __name__ == "__main__":
    main()
