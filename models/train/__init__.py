"""sphembed.models.train: training every network of the system, one module per job.

  fit.py             the fit skeleton every trainer runs: tf.distribute strategies, the learning-rate schedule,
                     history / TensorBoard / best-last checkpoints, exact resume after a kill (`fit_and_record`)
  run_dir.py         the run-directory contract: what a run directory holds, run_info.json (one format for every
                     stage, `finish_run`) and the one loader of trained models (`load_run`)
  targets.py         the spherical-CNN targets of the embedding: module fingerprint, per-split target cache,
                     mesh-template targets, channel scale
  augment.py         in-plane rotations of (view, target) pairs; anisotropic scaling of sphere maps
  sphcnn.py          train_sphcnn: the spherical CNN classifier (the target module)
  embedding.py       train_embedding: the embedding network on the targets (dataset, architectures)
  embedding_eval.py  evaluate_embedding: held-out loss and learned equivariance
  baselines.py       train_regression, train_keypointnet: the pose baselines
  flags.py           the command-line flags shared by the training commands (TF-free)
  commands.py        the train-sphcnn, train-embedding, eval-embedding, train-regression and train-keypointnet
                     commands (TF-free at import: the trainers are imported when a command runs)

Every trainer is `train_<stage>(data_dir, ..., run_dir, **settings) -> (model, run_info)`; the command line builds
the settings from a preset and its flags (`sphembed.presets.config_from_args`) and calls it. Trainers import what
they need at module level; only commands.py and flags.py stay TF-free. Nothing here imports sphembed.pose or
sphembed.hub_export (the target module is opened with `load_run`, as a SavedModel).
"""
