"""Named configurations: `demo` (small, CPU-friendly, the embedded procedural data) and `paper` (the paper's sizes).

A preset is a dict of sections, one per stage. Every command-line flag of a stage overrides the value of the same
name in its section (`sphembed <command> --preset demo --epochs 3`). Sections are owned by the stage that reads them.

`stage_config(preset, section)` (and `config_from_args(args, section)`, its command-line form, used by every
command) is what a stage runs with: the section, the given settings applied, then the rules by which a section
depends on itself or on another one:
  data                   categories "all" = None (every category of the source)
  embedding              the sizes of the architecture not chosen are None (a preset lists both), unless given
  synthesis              embedding_config: the `embedding` section's network, loss and targets for the EmbeddingNet
                         train-synthesis trains when none is given, its LR boundaries scaled to embedding_epochs
  baselines.regression   encoder sizes None = the embedding's when that is the encoder-decoder, else the defaults of
                         `train_regression` (the key is left out)
  baselines.keypointnet  image_size 0 = None (the dataset's)
TF-free (the command line imports it).
"""

import copy

__all__ = ["PRESETS", "ARCHITECTURE_SIZES", "get_preset", "stage_config", "config_from_args"]

# The sizes each embedding architecture takes (embedding settings and train-embedding flags of the same names).
ARCHITECTURE_SIZES = {
    "encoder-decoder": ("latent_dim", "base_filters", "max_filters"),
    "lifted": ("lift_bandwidth", "stem_stride", "base_filters", "max_filters", "context_filters"),
}

PRESETS = {
    "demo": {
        "data": {
            "source": "procedural",
            # The paper's four categories (its Table 2); None = all 8 procedural ones.
            "categories": ["airplane", "car", "chair", "sofa"],
            "meshes_per_category": {"train": 24, "test": 6},
            # Many distinct views: with 4 views per mesh every image-based method overfits (issue 13).
            "views_per_mesh": 32,
            "sphere_bandwidth": 16,  # 2B = 32 sphere maps
            "image_size": 64,
            "color": "gray",
            "rotations": "3dof",
            "seed": 0,
            "scale_augment": 0.0,
            "test_fraction": 0.2,  # folders without train/test splits
            "meshes_per_shard": 32,
            "pair_partners": 1,  # 768 IB and 768 CB test pairs per dataset (a pair per view)
            "on_error": "fail",
            "up": "y",  # the mesh files' up and front axes (y, None = canonical frame: no re-orientation)
            "front": None,  # None: z, or -y / y for up = z / -z
        },
        "sphcnn": {
            "input_bandwidth": 16,  # train-sphcnn uses the dataset's sphere_bandwidth when they differ
            "stem_channels": 16,
            "stages": [[32, 1], [64, 1], [128, 1]],  # (block channels, blocks); 2B = 32 -> 16 -> 8
            "num_anchors": 4,
            "degree_fraction": 1.0,  # L = B at each resolution
            "weight_decay": 0.0,
            "epochs": 2,  # 192 steps of 16 per epoch (3,072 maps); 100% on rotated test maps after one
            "batch_size": 16,
            "learning_rate": 1e-3,
            "lr_boundaries": [1.4, 1.8],  # epochs
            "lr_decay": 0.2,  # learning rate factor at each boundary
            "anisotropic_scaling": 0.2,  # scale factors in [1 - a, 1 + a] along random axes; 0 disables
            "seed": 0,
        },
        "embedding": {
            "target_endpoint": "block3",  # deepest demo endpoint: 2b = 8, 32 channels (category-level features)
            # The lifted network (LiftedEmbeddingNet: the view on the sphere grid, a circular CNN, exactly equivariant
            # to in-plane turns) learns pose within a CPU budget; the paper's encoder-decoder did not (4 categories,
            # 3,000 steps: held-out IB 3DOF median 16 vs 101 deg; README "Performance").
            "architecture": "lifted",
            "latent_dim": None,  # encoder-decoder only
            "lift_bandwidth": 32,  # the 64 x 64 view lifted onto a 64 x 64 grid (thin parts: airplane wings)...
            "stem_stride": 2,  # ... and a 5x5 stride-2 stem down to 32 x 32
            "base_filters": 16,
            "max_filters": 64,
            "context_filters": 64,
            "epochs": 21,  # 192 steps of 16 per epoch (3,072 views): 4,032 steps
            # 16, not 32: twice the steps in the same CPU time per epoch; dev IB 2DOF 18.5 -> 12.3 deg (README)
            "batch_size": 16,
            "learning_rate": 2e-3,
            "lr_boundaries": [12.6, 18.9],  # epochs (60% and 90%)
            "lr_decay": 0.2,
            "targets": "cache",  # or "on-the-fly"
            "loss": "centered-huber",  # "huber": the paper's (dominated by the rotation-invariant degree 0)
            "target_scaling": "channel",  # each channel in units of its own spread (faster, no flip phase)
            "targets_from": "mesh",  # Lambda_R T_M: one template per mesh, exactly equivariant targets
            "rotate_augment": False,  # a no-op for the lifted network (exactly equivariant to the same turns)
            "jit_compile": True,  # XLA: ~16% faster steps on CPU
            "seed": 0,
        },
        "synthesis": {
            "target_endpoint": "block2",  # earlier, higher resolution: 2b = 16, 16 channels
            # Synthesizer inputs: EmbeddingNet predictions ("predicted", the paper's and the paper preset's choice) or
            # the spherical-CNN "targets". At demo scale the predicted block2 embeddings carry almost no orientation,
            # so a synthesizer trained on them draws one blob per category; trained on the targets it draws
            # silhouettes that follow the rotation (oracle IoU 0.56 vs 0.39 for the input view), and fed E(I) it
            # scores the same as the one trained on predictions (PSNR 10.2 vs 10.5 dB).
            "source": "targets",
            "latent_dim": 256,
            "base_filters": 8,  # channels of the 64 x 64 decoder stage, which dominates the cost
            "max_filters": 64,
            "epochs": 2,
            "batch_size": 32,
            "learning_rate": 2e-3,
            "lr_boundaries": [1.4, 1.8],
            "lr_decay": 0.2,
            "embedding_epochs": 1,  # of the embedding network to the synthesis endpoint when none is given
            "seed": 0,
        },
        "pose": {"out_bandwidth": 32, "pairs_per_instance": 1, "batch_size": 32},
        "baselines": {
            # Pose regression (Mahendran et al. 2017); encoder sizes None = the embedding section's when that is the
            # encoder-decoder (same encoder), else the PoseRegressor defaults.
            "regression": {
                "latent_dim": 256,  # the paper's encoder (the embedding network's up to the 1D bottleneck), demo sizes
                "base_filters": 16,
                "max_filters": 64,
                "head_units": [512, 256],
                "epochs": 44,  # about the embedding's training time: 206 s against its 251 s in `make demo`
                "batch_size": 32,
                "learning_rate": 1e-3,
                "lr_boundaries": [22, 33],  # epochs
                "lr_decay": 0.2,
                "warmup_epochs": 33,  # RMSE loss, then geodesic (after the second decay, as in the paper's schedule)
                "seed": 0,
            },
            # KeypointNet (Suwajanakorn et al. 2018), shrunk (32 channels, 32 x 32 inputs) for 2 CPU cores; trained
            # for the embedding's training time.
            "keypointnet": {
                "num_keypoints": 10,
                "filters": 32,
                "image_size": 32,  # images resized 64 -> 32 before the networks
                "noise": 0.1,
                "separation_delta_sq": 0.05,
                "loss_weights": None,  # the paper's
                "anneal_fraction": [0.4, 0.5],
                "partners": 1,
                "epochs": 3,  # 192 steps of 16 pairs per epoch
                "batch_size": 16,
                "learning_rate": 1e-3,
                "seed": 0,
            },
        },
    },
    "paper": {
        "data": {
            "source": "modelnet40",  # a folder path must be given with --source
            "categories": None,
            "meshes_per_category": None,  # all
            "views_per_mesh": 4,
            "sphere_bandwidth": 32,  # 2B = 64 sphere maps
            "image_size": 64,
            "color": "gray",
            "rotations": "3dof",
            "seed": 0,
            "scale_augment": 0.0,
            "test_fraction": 0.2,
            "meshes_per_shard": 64,
            "pair_partners": 3,
            "on_error": "fail",
            "up": "y",
            "front": None,
        },
        "sphcnn": {
            "input_bandwidth": 32,
            "stem_channels": 16,
            "stages": [[64, 2], [128, 2], [256, 2], [256, 2]],  # 2B = 64 -> 32 -> 16 -> 8; 10 layers
            "num_anchors": 4,
            "degree_fraction": 1.0,
            "weight_decay": 0.0,
            "epochs": 15,
            "batch_size": 16,
            "learning_rate": 1e-3,
            "lr_boundaries": [8, 14],  # the paper: steps 5000 and 8500 at ~615 steps/epoch (ModelNet40, batch 16)
            "lr_decay": 0.2,
            "anisotropic_scaling": 0.2,
            "seed": 0,
        },
        "embedding": {
            "target_endpoint": "block6",  # 2b = 16, 64 channels
            "architecture": "encoder-decoder",  # the paper's
            "lift_bandwidth": None,  # lifted only
            "stem_stride": None,
            "context_filters": None,
            "latent_dim": 1024,
            "base_filters": 64,
            "max_filters": 256,
            "epochs": 40,
            "batch_size": 16,
            "learning_rate": 1e-3,
            "lr_boundaries": [16, 36],  # the paper: steps 80k and 180k of 200k
            "lr_decay": 0.1,
            "targets": "cache",
            "loss": "huber",  # the paper's area-weighted Huber loss
            "target_scaling": "none",
            "targets_from": "view",  # the paper's Phi(S(R M)) per view
            "rotate_augment": False,
            "jit_compile": False,
            "seed": 0,
        },
        "synthesis": {
            "target_endpoint": "block4",  # 2b = 32, 32 channels
            "source": "predicted",
            "latent_dim": 1024,
            "base_filters": 64,
            "max_filters": 256,
            "epochs": 40,
            "batch_size": 8,
            "learning_rate": 1e-3,
            "lr_boundaries": [16, 36],
            "lr_decay": 0.1,
            "embedding_epochs": 40,
            "seed": 0,
        },
        "pose": {"out_bandwidth": 64, "pairs_per_instance": 3, "batch_size": 32},
        "baselines": {
            "regression": {
                "latent_dim": None,  # the embedding's: 1024
                "base_filters": None,
                "max_filters": None,
                "head_units": [1000, 500],  # Mahendran et al.'s pose network
                "epochs": 60,
                "batch_size": 32,
                "learning_rate": 1e-3,
                # The comparison appendix: decays at steps 40k, 75k, 125k and RMSE for 100k steps, as fractions of a
                # 150k-step run (its total step count and rates are not legible in our copy of the paper).
                "lr_boundaries": [16, 30, 50],  # epochs
                "lr_decay": 0.2,
                "warmup_epochs": 40,
                "seed": 0,
            },
            "keypointnet": {
                "num_keypoints": 10,  # the authors' defaults from here on
                "filters": 64,
                "image_size": None,  # the dataset's (the paper renders 128x128)
                "noise": 0.1,
                "separation_delta_sq": 0.05,
                "loss_weights": None,
                "anneal_fraction": [0.4, 0.5],  # the comparison appendix: 120k-150k of 300k steps
                "partners": 3,
                "epochs": 60,  # ~300k steps of batch 24 on ModelNet40 (4 views x 3 partners per mesh)
                "batch_size": 24,
                "learning_rate": 1e-3,
                "seed": 0,
            },
        },
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


def _data(preset, cfg, given):
    if cfg["categories"] == "all":
        cfg["categories"] = None
    return cfg


def _embedding(preset, cfg, given):
    keep = set(ARCHITECTURE_SIZES.get(cfg["architecture"], ())) | set(given)
    every = {k for sizes in ARCHITECTURE_SIZES.values() for k in sizes}
    return {k: (None if k in every - keep else v) for k, v in cfg.items()}


def _synthesis(preset, cfg, given):
    embedding = get_preset(preset, "embedding")
    config = {k: embedding[k] for k in ("architecture", "latent_dim", "base_filters", "max_filters", "lift_bandwidth",
                                        "stem_stride", "context_filters", "batch_size", "learning_rate", "lr_decay",
                                        "targets", "loss", "target_scaling", "targets_from")}
    config["lr_boundaries"] = [b * cfg["embedding_epochs"] / embedding["epochs"] for b in embedding["lr_boundaries"]]
    return {**cfg, "embedding_config": config}


def _regression(preset, cfg, given):
    embedding = get_preset(preset, "embedding")
    for key in ("latent_dim", "base_filters", "max_filters"):  # the same encoder as the embedding by default
        if cfg[key] is None and embedding.get("architecture") == "encoder-decoder":
            cfg[key] = embedding[key]
        if cfg[key] is None:  # the embedding has no such encoder: train_regression's default
            del cfg[key]
    return cfg


def _keypointnet(preset, cfg, given):
    if cfg["image_size"] == 0:
        cfg["image_size"] = None
    return cfg


_RULES = {("data", None): _data, ("embedding", None): _embedding, ("synthesis", None): _synthesis,
          ("baselines", "regression"): _regression, ("baselines", "keypointnet"): _keypointnet}


def stage_config(preset, section, entry=None, **settings):
    """What a stage runs with: preset `preset`'s `section` (its `entry` for sections of several stages, e.g.
    ("baselines", "regression")), `settings` applied (None values ignored), then the section's rules (module
    docstring).

    Raises:
      ValueError: unknown preset, section or entry, or a setting the section does not have.
    """
    cfg = get_preset(preset, section)
    if entry is not None:
        if entry not in cfg:
            raise ValueError(f"preset section {section!r} has no entry {entry!r}; it has {sorted(cfg)}")
        cfg = cfg[entry]
    unknown = sorted(set(settings) - set(cfg))
    if unknown:
        raise ValueError(f"preset section {section!r} has no settings {unknown}; it has {sorted(cfg)}")
    given = {k: v for k, v in settings.items() if v is not None}
    cfg.update(given)
    rule = _RULES.get((section, entry))
    return rule(preset, cfg, given) if rule else cfg


def config_from_args(args, section, entry=None):
    """`stage_config` of preset args.preset, with every setting of the section that args has under the same name
    (the flag --some-setting) and not None."""
    keys = get_preset(args.preset, section)
    keys = keys.get(entry, {}) if entry is not None else keys
    return stage_config(args.preset, section, entry, **{k: getattr(args, k) for k in keys if hasattr(args, k)})
