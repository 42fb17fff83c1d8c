"""Named configurations: `demo` (small, CPU-friendly, the embedded procedural data) and `paper` (the paper's sizes).

A preset is a dict of sections, one per stage. Every command-line flag of a stage overrides the value of the same
name in its section (`sphembed <command> --preset demo --epochs 3`). Sections are owned by the stage that reads them.
"""

import copy

__all__ = ["PRESETS", "get_preset"]

PRESETS = {
    "demo": {
        "data": {
            "source": "procedural",
            "meshes_per_category": {"train": 24, "test": 6},
            "views_per_mesh": 4,
            "sphere_bandwidth": 16,  # 2B = 32 sphere maps
            "image_size": 64,
            "color": "gray",
            "rotations": "3dof",
            "seed": 0,
        },
        "sphcnn": {"input_bandwidth": 16, "epochs": 8, "batch_size": 16, "learning_rate": 1e-3},
        "embedding": {"target_endpoint": None, "epochs": 10, "batch_size": 32, "learning_rate": 1e-3},
        "synthesis": {"target_endpoint": None, "epochs": 10, "batch_size": 32, "learning_rate": 1e-3},
        "pose": {"out_bandwidth": 32, "pairs_per_instance": 3},
        "baselines": {"epochs": 10, "batch_size": 32, "learning_rate": 1e-3},
    },
    "paper": {
        "data": {
            "source": "modelnet40",
            "meshes_per_category": None,  # all
            "views_per_mesh": 4,
            "sphere_bandwidth": 32,  # 2B = 64 sphere maps
            "image_size": 64,
            "color": "gray",
            "rotations": "3dof",
            "seed": 0,
        },
        "sphcnn": {"input_bandwidth": 32, "epochs": 48, "batch_size": 32, "learning_rate": 1e-3},
        "embedding": {"target_endpoint": None, "epochs": 40, "batch_size": 32, "learning_rate": 1e-3},
        "synthesis": {"target_endpoint": None, "epochs": 40, "batch_size": 32, "learning_rate": 1e-3},
        "pose": {"out_bandwidth": 64, "pairs_per_instance": 3},
        "baselines": {"epochs": 40, "batch_size": 32, "learning_rate": 1e-3},
    },
}


def get_preset(name, section=None, **overrides):
    """A deep copy of preset `name` (or of one `section` of it), with `overrides` (None values ignored) applied.

    Raises:
      ValueError: unknown preset or section, or an override that the section does not have.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    preset = copy.deepcopy(PRESETS[name])
    if section is None:
        if overrides:
            raise ValueError("overrides need a section")
        return preset
    if section not in preset:
        raise ValueError(f"unknown preset section {section!r}; choose from {sorted(preset)}")
    cfg = preset[section]
    for key, value in overrides.items():
        if key not in cfg:
            raise ValueError(f"preset section {section!r} has no setting {key!r}; it has {sorted(cfg)}")
        if value is not None:
            cfg[key] = value
    return cfg
