"""sphembed: rotation-equivariant spherical embeddings of 2D images (Esteves et al., ICML 2019).

Sub-packages: `sphembed.models` (spherical math, layers, networks), `sphembed.data` (meshes, sphere maps,
rendering, datasets), `sphembed.pose` (SO(3) correlation, relative pose), `sphembed.synthesis` (novel views),
`sphembed.hub_export` (TF-Hub SavedModels). Conventions: ../DESIGN.md §3, summarized in README.md.
"""

__version__ = "0.1.0"
