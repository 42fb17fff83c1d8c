"""Data pipeline throughput: rendered views/s and ray-cast sphere maps/s with 1 and 2 spawned worker processes.

Usage: python benchmarks/bench_data.py [--image-size 64] [--bandwidths 16 32] [--meshes 32] [--views 4]
Each task is one procedural mesh (cycling through the 8 categories) built in the worker, then either rendered
(pyrender, headless) or ray cast (trimesh + embree) for --views random 3DOF poses, exactly as `sphembed make-data`
does. Pool start-up is excluded (one untimed warm-up round per case; the median of --repeats rounds is reported).
The worker CPU time per item is also reported: unlike wall-clock rates it does not depend on other load.
Prints a table and writes benchmarks/results/data.json.
"""

import argparse
import os
import time

import numpy as np

from common import report, time_call
from sphembed.data.build import mesh_views, view_parameters
from sphembed.data.gl_backend import require_backend
from sphembed.data.procedural import CATEGORIES
from sphembed.data.render import worker_pool


def _tasks(meshes, views, image_size, bandwidth, render, sphere):
    return [{"spec": {"kind": "procedural", "category": CATEGORIES[i % len(CATEGORIES)], "seed": i},
             "image_size": image_size, "color": "gray", "sphere_bandwidth": bandwidth, "render": render,
             "sphere": sphere, **dict(zip(("rotations", "scales"), view_parameters([0, i], views, "3dof", 0.0)))}
            for i in range(meshes)]


def _cpu_seconds(task):
    """CPU time (all threads of the worker) of one mesh's work; robust when other jobs share the machine."""
    start = time.process_time()
    mesh_views(task)
    return time.process_time() - start


def _measure(pool, tasks, views, repeats):
    """(items per second: median wall time of `repeats` rounds after a warm-up round; worker CPU ms per item)."""
    cpu = []
    seconds = time_call(lambda: cpu.extend(pool.map(_cpu_seconds, tasks, chunksize=1)), repeats=repeats)
    return len(tasks) * views / seconds, 1000 * float(np.median(cpu)) / views


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64, help="rendered image side (default 64)")
    parser.add_argument("--bandwidths", type=int, nargs="+", default=[16, 32],
                        help="sphere-map bandwidths B (maps 2B x 2B; default 16 32)")
    parser.add_argument("--meshes", type=int, default=32, help="meshes per measurement (default 32)")
    parser.add_argument("--views", type=int, default=4, help="views per mesh (default 4)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per case (median reported)")
    args = parser.parse_args(argv)
    backend = require_backend()
    rows = []
    for workers in args.workers:
        with worker_pool(workers, backend) as pool:
            tasks = _tasks(args.meshes, args.views, args.image_size, args.bandwidths[0], True, False)
            jobs = [(f"render {args.image_size}x{args.image_size} gray", tasks)]
            jobs += [(f"sphere map 2B = {2 * B}", _tasks(args.meshes, args.views, args.image_size, B, False, True))
                     for B in args.bandwidths]
            for job, tasks in jobs:
                rate, cpu_ms = _measure(pool, tasks, args.views, args.repeats)
                rows.append({"workers": workers, "job": job, "per second": rate, "worker CPU ms each": cpu_ms})
    report("data", rows, ["workers", "job", "per second", "worker CPU ms each"],
           notes=f"views/s or sphere maps/s (wall clock); worker CPU ms per view or map (median over meshes; all "
                 f"threads of the worker; independent of other load); procedural meshes (built in the worker, "
                 f"included), {args.views} views "
                 f"each, {args.meshes} meshes per measurement; render back-end {backend}; "
                 f"{os.cpu_count()} CPUs (shared with other jobs while measured).")


if __name__ == "__main__":
    main()
