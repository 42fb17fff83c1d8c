"""Pose alignment: throughput of the public functions as users call them, against a NumPy reference and s2fft.

Usage: python benchmarks/bench_pose.py [--out-bandwidth 32] [--batches 1 8 64 256] [--repeats 3] [--run RUN]
       [--pairs 2000] [--sphere-pairs 500] [--meshes DIR] [--skip accuracy module ...]

Sections, all measured in one run (one process, the same load) and written to benchmarks/results/pose.json, with the
plot benchmarks/results/pose_throughput.png:
  throughput  pairs/s against the batch size for 16x16x32 embeddings (B = 8) and 64x64x2 sphere maps (B = 32) at
              B' = 32: the NumPy reference (float64 grid argmax with np.einsum and np.fft; its cost per pair does not
              depend on the batch, so it runs on at most 8 pairs), s2fft (JAX on CPU, float64 as s2fft recommends, the
              same job: harmonic transforms, correlation coefficients, inverse Wigner transform on its Driscoll-Healy
              SO(3) grid of 63 x 64 x 63 points, argmax; needs the optional `bench` extra), the public
              `align(f, h, out_bandwidth=B', method="dense")` (grid + refinement), `align(..., refine=False)` (grid
              argmax) and the default coarse-to-fine `align(f, h, out_bandwidth=B')`, each called on numpy arrays
              exactly as a user would; for the sphere maps also coarse-to-fine on the low-passed grid
              (`coarse_bandwidth=3B/4`, below B: for rotated copies of one map); plus the working memory per pair of
              the grid search.
  per-call    one pair per call in a Python loop: align, so3_correlation, relative_pose (after the first call).
  module      the pose SavedModel (`export-hub --model pose`) on images -> R_ab at batch 1 and 64, and its two
              parts measured alone: the embedding network on both images and the alignment of the embeddings.
  accuracy    coarse-to-fine against dense (same seeds) and against dense with the grid argmax as its only seed
              (the search before this change): random band-limited 4-channel pairs at B = 8 (independent maps, and
              rotated maps plus noise of equal power), and with --run the embeddings of a demo run's held-out
              images for the eval-pose pairs; the low-passed grid (`coarse_bandwidth=3B/4`) against dense on 64x64x2
              sphere maps (B = 32): random rotated and independent pairs and, with --meshes, the ray-cast sphere
              maps of a mesh folder's meshes (each mesh at two random rotations, and each against another mesh of
              its category); the pairs that differ are listed (the first 100) with the angle between the two
              answers, the score gap and which of the dense search's refined peaks coarse-to-fine took instead.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
from scipy.spatial.transform import Rotation

from common import RESULTS_DIR, report, time_call
from sphembed.models.sphere.grids import quadrature_weights, so3_grid
from sphembed.models.sphere.harmonics import isht
from sphembed.models.sphere.rotations import geodesic_angle, rotate_coefficients
from sphembed.models.sphere.wigner import wigner_d_np
from sphembed.pose.alignment import align
from sphembed.pose.correlation import so3_correlation
from sphembed.pose.relative import relative_pose

CASES = (("embedding 16x16x32", 8, 32), ("sphere map 64x64x2", 32, 2))
# The sphere maps' low-passed coarse grid, as a fraction of their bandwidth (align's coarse_bandwidth below B).
LOW_PASS = 3 / 4
LISTED_MISSES = 100
# Each timed sample of the TF paths runs for at least this long (a batch-1 call takes ~1-5 ms).
MIN_SECONDS = 0.25
SECTIONS = ("throughput", "per-call", "module", "accuracy")


def random_flm(rng, L, shape):
    """Coefficients of real band-limited maps with a flat spectrum: complex [*shape, L, 2L-1]."""
    m = np.arange(-(L - 1), L)
    flm = rng.normal(size=(*shape, L, 2 * L - 1)) + 1j * rng.normal(size=(*shape, L, 2 * L - 1))
    flm = (flm + (-1.0) ** m * np.conj(flm[..., ::-1])) / 2  # f_{l,-m} = (-1)^m conj(f_lm): a real map
    return np.where(np.abs(m) <= np.arange(L)[:, None], flm, 0)


def rotated_pairs(rng, B, C, n):
    """(f, h, flm of f, flm of h): f = Lambda_R h + noise of the same power, float32 [n, 2B, 2B, C] maps."""
    hl = random_flm(rng, B, (n, C))
    R = tf.constant(Rotation.random(n, random_state=rng).as_matrix())
    fl = rotate_coefficients(tf.constant(hl), R).numpy() + random_flm(rng, B, (n, C))
    maps = [tf.cast(isht(tf.constant(x), B), tf.float32).numpy() for x in (fl, hl)]
    return maps[0], maps[1], fl, hl


def numpy_align(f, h, Bp):
    """Reference: grid argmax of C as flat indices [batch] into [2B' (alpha), 2B' (beta), 2B' (gamma)], float64."""
    B = f.shape[1] // 2
    L, N = B, 2 * Bp
    theta, phi = np.pi * (2 * np.arange(2 * B) + 1) / (4 * B), np.pi * np.arange(2 * B) / B
    m = np.arange(-(L - 1), L)
    y = wigner_d_np(L, theta)[..., L - 1] * np.sqrt((2 * np.arange(L) + 1) / (4 * np.pi))[None, :, None]
    w = quadrature_weights(B, "float64")[:, None, None, None] * np.conj(
        y[:, None] * np.exp(1j * np.outer(phi, m))[None, :, None, :])  # q_j conj(Y_lm(theta_j, phi_k))
    flm = np.einsum("bjkc,jklm->bclm", f, w)
    hlm = np.einsum("bjkc,jklm->bclm", h, w)
    chat = np.einsum("bclm,bcln->blmn", flm, np.conj(hlm))
    s = np.einsum("blmn,klmn->bkmn", chat, wigner_d_np(L, so3_grid(Bp, "float64")[1]))  # [batch, beta, m, n]
    grid = np.zeros((f.shape[0], N, N, N), np.complex128)
    idx = np.arange(-(L - 1), L) % N
    grid[:, :, idx[:, None], idx[None, :]] = s
    c = np.real(np.fft.ifft2(grid, axes=(2, 3))) * N * N  # [batch, beta, alpha, gamma]
    return np.argmax(np.transpose(c, (0, 2, 1, 3)).reshape(f.shape[0], -1), axis=1)


def s2fft_job(B, Bp):
    """The same job with s2fft, or None when s2fft is not installed: (maps from flm, jitted pairs -> argmax)."""
    try:
        import jax
        import jax.numpy as jnp
        import s2fft
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)  # s2fft's recursions need float64 beyond small L
    sht_tables = s2fft.generate_precomputes_jax(B, 0, "dh", None, False)
    so3_tables = s2fft.generate_precomputes_wigner_jax(Bp, Bp, "dh", None, False, True)
    scale = (8 * np.pi ** 2 / (2 * np.arange(B) + 1))[:, None, None]  # C = sum (2l+1)/(8 pi^2) flmn D^{l*}_{mn}

    def one(f, h):
        coefficients = jax.vmap(lambda x: s2fft.forward_jax(x, B, 0, None, "dh", True, sht_tables), in_axes=2)
        chat = jnp.einsum("clm,cln->lmn", coefficients(f), jnp.conj(coefficients(h)))
        flmn = jnp.zeros((2 * Bp - 1, Bp, 2 * Bp - 1), jnp.complex128)
        flmn = flmn.at[Bp - B:Bp + B - 1, :B, Bp - B:Bp + B - 1].set(jnp.transpose(chat * scale, (2, 0, 1)))
        return jnp.argmax(s2fft.wigner.inverse_jax(flmn, Bp, Bp, None, "dh", True, so3_tables).real)

    to_maps = jax.jit(jax.vmap(jax.vmap(lambda x: s2fft.inverse_jax(x, B, 0, None, "dh", True).real)))
    run = jax.jit(jax.vmap(one))
    return (lambda flm: np.moveaxis(np.asarray(to_maps(flm)), 1, -1)), (lambda f, h: np.asarray(run(f, h)))


def _low_pass(B):
    """The low-passed coarse bandwidth of maps of bandwidth B (>= 16, the default floor of the coarse grid)."""
    return max(int(LOW_PASS * B), 16)


def grid_memory_mib(L, Bg):
    """Working memory per pair of the grid search in float32: the grid, the beta transform and the alpha DFT."""
    N = 2 * Bg
    return 4 * (N ** 3 + N * 2 * (2 * L - 1) * L + N * L * 2 * N) / 2 ** 20


def throughput(args, rng, rows):
    Bp = args.out_bandwidth
    for label, B, C in CASES:
        Bc = min(2 * B, Bp)
        s2 = s2fft_job(B, Bp)
        if s2 is None:
            print("s2fft is not installed (pip install -e '.[bench]'): its column is skipped", flush=True)
        for batch in args.batches:
            f, h, fl, hl = rotated_pairs(rng, B, C, batch)
            row = {"input": label, "batch": batch}
            small = min(batch, 8)
            row["NumPy pairs/s"] = small / time_call(lambda: numpy_align(f[:small], h[:small], Bp), 1, warmup=0)
            # The reference and the TF grid argmax pick the same grid point (up to float32 round-off of ties).
            R_np = Rotation.from_euler("ZYZ", np.stack([x[i] for x, i in zip(
                so3_grid(Bp, "float64"), np.unravel_index(numpy_align(f[:small], h[:small], Bp), (2 * Bp,) * 3))],
                axis=-1)).as_matrix()
            row["NumPy = TF grid argmax"] = float(np.mean(_degrees(  # grid spacing 180 / B' deg, float32 ~0.03 deg
                R_np, align(f[:small], h[:small], out_bandwidth=Bp, refine=False)[0]) < 0.1))
            if s2 is not None:
                maps = [s2[0](x) for x in (fl, hl)]
                row["s2fft pairs/s"] = batch / time_call(lambda: s2[1](*maps), args.repeats)
            cases = [("dense grid", dict(refine=False)), ("dense refined", dict(method="dense")),
                     ("coarse-to-fine", {})]
            if B > _low_pass(B):
                cases.append(("low-pass coarse-to-fine", dict(coarse_bandwidth=_low_pass(B))))
            row["low-pass coarse-to-fine pairs/s"] = "n/a"
            for name, options in cases:
                row[f"{name} pairs/s"] = batch / time_call(lambda: align(f, h, out_bandwidth=Bp, **options),
                                                           args.repeats, min_seconds=MIN_SECONDS)
            row["coarse-to-fine / s2fft"] = (row["coarse-to-fine pairs/s"] / row["s2fft pairs/s"]
                                             if s2 is not None else "n/a")
            row["dense grid MiB/pair"] = grid_memory_mib(B, Bp)
            row["coarse grid MiB/pair"] = grid_memory_mib(B, Bc)
            rows.append(row)
            print(row, flush=True)


def per_call(args, rng):
    """One pair per call: pairs/s of align, so3_correlation and relative_pose (identity model) after the first."""
    f, h, _, _ = rotated_pairs(rng, 8, 32, 200)
    Bp = args.out_bandwidth
    identity = lambda x, training=False: x  # noqa: E731  (an embedding model that costs nothing)
    calls = {"align": lambda i: align(f[i:i + 1], h[i:i + 1], out_bandwidth=Bp),
             "so3_correlation": lambda i: so3_correlation(f[i:i + 1], h[i:i + 1], out_bandwidth=Bp),
             "relative_pose (identity model)": lambda i: relative_pose(h[i:i + 1], f[i:i + 1], identity,
                                                                        out_bandwidth=Bp)}
    out = []
    for name, call in calls.items():
        call(0)
        start = time.perf_counter()
        for i in range(1, len(f)):
            call(i)
        out.append({"function": name, "input": "embedding 16x16x32", "calls": len(f) - 1,
                    "pairs/s": (len(f) - 1) / (time.perf_counter() - start)})
        print(out[-1], flush=True)
    return out


def embedding_model(run):
    if run:
        from sphembed.pose.relative import load_model

        return load_model(os.path.join(run, "embedding"))  # a demo run directory
    from sphembed.models.train.embedding import build_embedding_net
    from sphembed.presets import ARCHITECTURE_SIZES, get_preset

    # Without a run: the demo preset's network (untrained: the timing does not depend on the weights) for 64 x 64
    # gray views and its block3 targets (8 x 8 x 32).
    cfg = get_preset("demo", "embedding")
    sizes = {key: cfg[key] for key in ARCHITECTURE_SIZES[cfg["architecture"]]}
    model = build_embedding_net([64, 64, 1], [8, 8, 32], cfg["architecture"], **sizes)
    model(np.zeros((1, 64, 64, 1), np.float32))
    return model


def module(args, rng):
    """The pose SavedModel, images -> R_ab, and its network and alignment parts alone."""
    from sphembed.pose.serving import export_pose_module

    net = embedding_model(args.run)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = export_pose_module(net, os.path.join(tmp, "pose"), args.out_bandwidth)
        serve = tf.saved_model.load(path).signatures["serving_default"]
        embed = tf.function(lambda x: net(x, training=False), autograph=False)
        for batch in (1, 64):
            a, b = (tf.constant(rng.random((batch, 64, 64, 1)), tf.float32) for _ in range(2))
            both = tf.concat([a, b], axis=0)
            ea, eb = np.split(embed(both).numpy(), 2)
            t_module = time_call(lambda: serve(image_a=a, image_b=b), args.repeats)
            t_net = time_call(lambda: embed(both), args.repeats)
            t_align = time_call(lambda: align(eb, ea, out_bandwidth=args.out_bandwidth), args.repeats)
            out.append({"batch": batch, "embedding": "x".join(map(str, ea.shape[1:])),
                        "pose module pairs/s": batch / t_module, "network alone pairs/s": batch / t_net,
                        "alignment alone pairs/s": batch / t_align,
                        "alignment share of network + alignment": t_align / (t_net + t_align)})
            print(out[-1], flush=True)
    return out


def _degrees(R1, R2):
    return np.degrees(geodesic_angle(tf.cast(R1, tf.float64), tf.cast(R2, tf.float64)).numpy())


def compare(name, f, h, Bp, chunk=256, **c2f_options):
    """Coarse-to-fine (with c2f_options) vs dense on pairs (f, h): a summary row and the first LISTED_MISSES pairs
    that differ by >= 0.1 deg."""
    def run(**options):
        parts = [align(f[i:i + chunk], h[i:i + chunk], out_bandwidth=Bp, **options) for i in range(0, len(f), chunk)]
        return tuple(np.concatenate([p[k].numpy() for p in parts]) for k in (0, 1))

    R_c, s_c = run(**c2f_options)
    R_d, s_d = run(method="dense")
    R_1, s_1 = run(method="dense", seeds=1)
    err, err_1 = _degrees(R_c, R_d), _degrees(R_c, R_1)
    row = {"pairs": name, "n": len(f), "within 0.1 deg of dense": float(np.mean(err < 0.1)),
           "within 0.1 deg of dense, 1 seed": float(np.mean(err_1 < 0.1)),
           "dense 1 seed lower than coarse-to-fine": int(np.sum(s_1 < s_c - 1e-5 * np.abs(s_c))),
           "coarse bandwidth": c2f_options.get("coarse_bandwidth", "default")}
    misses = []
    for i in np.flatnonzero(err >= 0.1)[:LISTED_MISSES]:
        peaks, scores = align(f[i:i + 1], h[i:i + 1], out_bandwidth=Bp, method="dense", top_k=8,
                              min_separation_deg=1.0)
        rank = int(np.argmin(_degrees(peaks[0], np.broadcast_to(R_c[i], (8, 3, 3)))))
        misses.append({"pair": int(i), "angle to dense deg": float(err[i]),
                       "score gap (c2f - dense) / |dense|": float((s_c[i] - s_d[i]) / abs(s_d[i])),
                       "c2f took the dense search's refined peak #": rank + 1,
                       "angle to that peak deg": float(_degrees(peaks[0, rank], R_c[i]))})
    return row, misses


def accuracy(args, rng):
    rows, misses = [], {}
    n, m = args.pairs, args.sphere_pairs

    def independent(B, C, count):
        return tuple(tf.cast(isht(tf.constant(random_flm(rng, B, (count, C))), B), tf.float32).numpy()
                     for _ in range(2))

    sets = {"rotated + noise, B = 8, C = 4": rotated_pairs(rng, 8, 4, n)[:2],
            "independent, B = 8, C = 4": independent(8, 4, n)}
    if args.run:
        sets["demo embeddings (eval-pose pairs)"] = demo_embeddings(args.run)
    options = dict.fromkeys(sets, {})
    low_passed = {"sphere maps: rotated + noise, B = 32, C = 2": rotated_pairs(rng, 32, 2, m)[:2],
                  "sphere maps: independent, B = 32, C = 2": independent(32, 2, m)}
    if args.meshes:
        low_passed.update(mesh_sphere_maps(args.meshes, 32, rng))
    sets.update(low_passed)
    options.update(dict.fromkeys(low_passed, {"coarse_bandwidth": _low_pass(32)}))
    for name, (f, h) in sets.items():
        row, missed = compare(name, f, h, args.out_bandwidth, **options[name])
        rows.append(row)
        misses[name] = missed
        print(row, missed, flush=True)
    return rows, misses


def mesh_sphere_maps(folder, B, rng):
    """Ray-cast sphere maps [n, 2B, 2B, 2] of a mesh folder's meshes, as {name: (f, h)}: each mesh at two random
    rotations (one object), and each mesh against the next one of its category (two objects)."""
    from sphembed.data.meshes import find_meshes, load_mesh, rotate_mesh
    from sphembed.data.spheremap import sphere_map

    entries = find_meshes(folder)[1]
    maps, categories = [], []
    for e in entries:
        mesh = load_mesh(e["path"])
        maps.append([sphere_map(rotate_mesh(mesh, R), B) for R in Rotation.random(2, random_state=rng).as_matrix()])
        categories.append(e["category"])
    f, h = (np.stack(x) for x in zip(*maps))
    other = [next((j for j in [*range(i + 1, len(entries)), *range(i)] if categories[j] == c), i)
             for i, c in enumerate(categories)]
    return {f"{folder} sphere maps: one mesh, two rotations": (f, h),
            f"{folder} sphere maps: two meshes of a category": (f, h[other])}


def demo_embeddings(run):
    """(E(I_b), E(I_a)) of the IB and CB test pairs of a demo run's 2DOF and 3DOF datasets."""
    from sphembed.data.pairs import pair_rows
    from sphembed.data.splits import load_split
    from sphembed.pose.protocol import load_pairs
    from sphembed.pose.relative import call_model, load_model

    net = load_model(os.path.join(run, "embedding"))
    embed = tf.function(lambda x: call_model(net, x), autograph=False)
    eb, ea = [], []
    for regime in ("2dof", "3dof"):
        data_dir = os.path.join(run, "data", regime)
        data = load_split(data_dir, "image")
        emb = np.concatenate([embed(data["image"][i:i + 64]).numpy() for i in range(0, len(data["image"]), 64)])
        for kind in ("IB", "CB"):
            pairs = pair_rows(data["index"], load_pairs(data_dir, kind), f"{kind} pairs", data_dir)
            ea.append(emb[pairs[:, 0]])
            eb.append(emb[pairs[:, 1]])
    return np.concatenate(eb), np.concatenate(ea)


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in ("NumPy pairs/s", "s2fft pairs/s", "dense grid pairs/s", "dense refined pairs/s",
                           "coarse-to-fine pairs/s", "low-pass coarse-to-fine pairs/s")
               if any(isinstance(r.get(c), float) for r in rows)]
    inputs = list(dict.fromkeys(r["input"] for r in rows))
    fig, axes = plt.subplots(1, len(inputs), figsize=(5.5 * len(inputs), 4.2), squeeze=False)
    for ax, label in zip(axes[0], inputs):
        sel = [r for r in rows if r["input"] == label]
        for column in columns:
            points = [(r["batch"], r[column]) for r in sel if isinstance(r.get(column), float)]
            if points:
                ax.plot(*zip(*points), marker="o", label=column[:-8])
        ax.set(xscale="log", yscale="log", xlabel="batch (pairs per call)", ylabel="pairs/s", title=label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-bandwidth", type=int, default=32, help="B' of the dense SO(3) grid (default 32)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256], help="pairs per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed samples per case, median reported (TF "
                        "paths: each sample >= 0.25 s of calls)")
    parser.add_argument("--pairs", type=int, default=2000, help="random pairs per accuracy set (default 2000)")
    parser.add_argument("--sphere-pairs", type=int, default=500, help="pairs per sphere-map accuracy set "
                        "(default 500)")
    parser.add_argument("--meshes", default=None, help="a mesh folder (e.g. /work/shared/meshes): its ray-cast "
                        "sphere maps join the accuracy section")
    parser.add_argument("--run", default=None, help="a `sphembed demo` run directory: its embedding network for "
                        "the pose module and its held-out embeddings for the accuracy section")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS, help="sections to leave out")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    load = os.getloadavg()
    results = {}
    rows = []
    if "throughput" not in args.skip:
        throughput(args, rng, rows)
        os.makedirs(RESULTS_DIR, exist_ok=True)
        plot(rows, os.path.join(RESULTS_DIR, "pose_throughput.png"))
    for section, fn in (("per-call", per_call), ("module", module)):
        if section not in args.skip:
            results[section] = fn(args, rng)
    if "accuracy" not in args.skip:
        results["accuracy"], results["accuracy misses"] = accuracy(args, rng)
    columns = ["input", "batch", "NumPy pairs/s", "s2fft pairs/s", "dense grid pairs/s", "dense refined pairs/s",
               "coarse-to-fine pairs/s", "low-pass coarse-to-fine pairs/s", "coarse-to-fine / s2fft",
               "dense grid MiB/pair", "coarse grid MiB/pair", "NumPy = TF grid argmax"]
    results.update(load_before=load, load_after=os.getloadavg(), argv=sys.argv[1:])
    report("pose", rows, [c for c in columns if all(c in r for r in rows)] if rows else ["input"],
                  notes=f"B' = {args.out_bandwidth}; float32 TF through the public align (numpy inputs, one call per "
                        f"batch, compiled once per shape before timing); load average before the run "
                        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} CPUs. NumPy: float64 "
                        "grid argmax on at most 8 pairs. s2fft: JAX float64, grid 63 x 64 x 63.", extra=results)
    for section in ("per-call", "module", "accuracy"):
        if section in results:
            keys = list(results[section][0])
            print(f"\n## {section}\n\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
            for r in results[section]:
                print("| " + " | ".join(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
