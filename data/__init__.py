"""Data: meshes and procedural shapes, their sphere maps and rendered views, the `make-data` datasets, pair lists.

  meshes.py      load_mesh, normalize_mesh, rotate_mesh, find_meshes: any trimesh format, ModelNet40 / ShapeNetCore /
                 class-folder layouts
  procedural.py  CATEGORIES, make_shape: the built-in procedural categories (the default data, no files)
  spheremap.py   sphere_map: ray-cast sphere maps [2B, 2B, 2] on the sphere grid (trimesh + embree)
  sampling.py    sample_rotations: seeded view rotations, "2dof" (no roll) or "3dof" (uniform on SO(3))
  render.py      Renderer, render_view, worker_pool: headless pyrender views in spawned worker processes
  gl_backend.py  detect_backend, require_backend: the headless OpenGL back-end (EGL, else OSMesa), probed in a
                 subprocess
  build.py       the per-mesh work of make-data (load, render, ray-cast every view), run in the workers
  manifest.py    read_manifest, write_manifest: the dataset directory's JSON manifest
  records.py     serialize_example, make_dataset: the TFRecord examples and their tf.data reader (TensorFlow)
  splits.py      split_count, load_split: a whole split's size, or all its examples as numpy arrays (TensorFlow)
  pairs.py       make_pairs, pair_rows: the IB / CB evaluation pair lists of the paper's protocol
  make_data.py   build_dataset: what `sphembed make-data` runs (deterministic, resumable); cli.py registers it

Conventions (DESIGN.md §3): object frame +Y up, front +Z; camera on +z looking at the origin, y up; a view in pose R
renders the vertices R v. Only records.py and splits.py import TensorFlow, and this package imports nothing, so the
rendering and ray-casting workers (build, render, spheremap, meshes, procedural, sampling) stay TF-free.
"""
