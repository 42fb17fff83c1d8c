"""Data pipeline: meshes, procedural shapes, sphere maps, rendering, rotation sampling, TFRecord datasets, pairs.

Modules (import them directly; this package imports nothing, so TF-free worker processes stay TF-free):
  meshes      load_mesh, normalize_mesh, rotate_mesh, find_meshes (ModelNet40 / ShapeNetCore / class folders)
  procedural  CATEGORIES, make_shape (the built-in default data)
  spheremap   sphere_map (ray casting, trimesh + embree)
  sampling    sample_rotations ("2dof", "3dof")
  render      Renderer, render_view, worker_pool (pyrender, headless, spawned workers)
  gl_backend  detect_backend, require_backend (EGL, else OSMesa)
  build       the per-mesh work of make-data (in workers)
  manifest    read_manifest, write_manifest (TF-free)
  records     serialize_example, make_dataset, read_manifest (TensorFlow)
  pairs       make_pairs, relative_rotations (IB / CB evaluation pairs)
  make_data   build_dataset (what `sphembed make-data` runs); cli registers the command
Conventions: DESIGN.md §3 and README "Data (`sphembed.data`)": object frame +Y up, front +Z; camera on +z.
"""
