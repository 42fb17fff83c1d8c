"""Headless OpenGL back-end detection for pyrender (EGL first, then OSMesa).

TensorFlow >= 2.20 and Mesa's llvmpipe crash when used in one process, so the probe (like all rendering) runs in a
fresh interpreter that never imports TensorFlow.
"""

import functools
import os
import subprocess
import sys

__all__ = ["BACKENDS", "INSTALL_HINT", "detect_backend", "require_backend"]

BACKENDS = ("egl", "osmesa")
INSTALL_HINT = (
    "headless rendering needs EGL (Debian: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libopengl0) "
    "or OSMesa (apt-get install libosmesa6), and PyOpenGL >= 3.1.7 (pip install PyOpenGL==3.1.7)"
)

_PROBE = """
import numpy as np, pyrender, trimesh
r = pyrender.OffscreenRenderer(16, 16)
s = pyrender.Scene()
s.add(pyrender.Mesh.from_trimesh(trimesh.creation.box()))
s.add(pyrender.PerspectiveCamera(yfov=1.0), pose=np.array([[1,0,0,0],[0,1,0,0],[0,0,1,3],[0,0,0,1.0]]))
color, depth = r.render(s)
assert depth.max() > 0
r.delete()
"""


def _probe(backend):
    env = dict(os.environ, PYOPENGL_PLATFORM=backend)
    proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, proc.stderr.strip().splitlines()[-1:] if proc.returncode else []


@functools.lru_cache(maxsize=None)
def detect_backend():
    """The first of ("egl", "osmesa") that renders a test scene in a subprocess, or None.

    $PYOPENGL_PLATFORM, when set, is the only back-end tried.
    """
    forced = os.environ.get("PYOPENGL_PLATFORM")
    for backend in (forced,) if forced else BACKENDS:
        ok, _ = _probe(backend)
        if ok:
            return backend
    return None


def require_backend():
    """The working back-end name; raises RuntimeError listing what to install when none works."""
    backend = detect_backend()
    if backend is None:
        errors = {b: _probe(b)[1] for b in BACKENDS}
        raise RuntimeError(f"no headless OpenGL back-end works ({errors}); {INSTALL_HINT}")
    return backend
