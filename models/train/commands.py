"""The training commands: `sphembed train-sphcnn`, `train-embedding`, `eval-embedding`, `train-regression` and
`train-keypointnet`. Each parses its flags, builds its config from the preset (`sphembed.presets.config_from_args`)
and calls the trainer's Python function (`train_sphcnn`, `train_embedding`, `evaluate_embedding`,
`train_regression`, `train_keypointnet`); every run directory is `--run-dir` (`sphembed.models.train.run_dir`).

TF-free at import (`sphembed --help` stays fast): the `run_*` functions import the trainers.
"""

import argparse
import json
import os

from sphembed.models.train.flags import (EMBEDDING_LOSSES, TARGET_MODES, TARGET_SCALINGS, TARGET_SOURCES,
                                         add_fit_arguments, add_run_dir_argument, add_training_arguments)
from sphembed.presets import ARCHITECTURE_SIZES, PRESETS, config_from_args

__all__ = ["register", "run_sphcnn", "run_embedding", "run_eval_embedding", "run_regression", "run_keypointnet"]


def _stages(text):
    try:
        return [[int(v) for v in item.split(":")] for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--stages must look like '32:1,64:1,128:1' (channels:blocks), got {text!r}")


def _check_data(args, command):
    if not os.path.isdir(args.data):
        raise SystemExit(f"{command}: --data {args.data!r} is not a directory")


def register(subparsers):
    _register_sphcnn(subparsers)
    _register_embedding(subparsers)
    _register_baselines(subparsers)


def _register_sphcnn(subparsers):
    p = subparsers.add_parser(
        "train-sphcnn", help="train the spherical CNN classifier on sphere maps from make-data",
        description="Trains the SphericalCNN classifier on the dataset's sphere maps of meshes in random 3D rotations "
        "(random anisotropic scaling augmentation). Writes TensorBoard logs, checkpoints (best.keras, last.keras), "
        "history.json, sphcnn.keras and run_info.json (rotated train/test accuracy, parameters, equivariance "
        "errors) into --run-dir; rerunning the same command resumes an interrupted run. Flags override the "
        "preset's `sphcnn` section.")
    p.add_argument("--data", required=True, help="dataset directory written by `sphembed make-data`")
    add_run_dir_argument(p, "output directory of the run; rerunning with the same --run-dir resumes it", old="--out")
    p.add_argument("--preset", default="demo", choices=sorted(PRESETS), help="named configuration (default demo)")
    add_fit_arguments(p)
    p.add_argument("--stem-channels", type=int, help="channels of the first spherical convolution")
    p.add_argument("--stages", type=_stages, help="residual stages 'channels:blocks,...'; 2B halves between stages")
    p.add_argument("--num-anchors", type=int, help="spectral anchors per filter (localized filters)")
    p.add_argument("--degree-fraction", type=float, help="L = fraction * B in every spherical convolution")
    p.add_argument("--weight-decay", type=float, help="L2 factor on kernels")
    p.add_argument("--anisotropic-scaling", type=float,
                   help="augmentation: random scale factors in [1-a, 1+a] along random axes (0 disables)")
    p.set_defaults(func=run_sphcnn)


def _register_embedding(subparsers):
    p = subparsers.add_parser(
        "train-embedding", help="train the embedding network (image -> spherical embedding) on spherical-CNN targets",
        description="Trains the image -> sphere network (--architecture: the paper's encoder-decoder or the lifted, "
        "in-plane equivariant one) to regress the spherical-CNN module's features at "
        "--target-endpoint of each example's rotated mesh (area-weighted Huber loss, or --loss). Targets are "
        "computed once and cached under DATA/targets/ (recomputed when the module, endpoint or dataset changes). "
        "Writes TensorBoard logs, checkpoints, history.json, embedding.keras and run_info.json into --run-dir; "
        "rerunning the same command resumes an interrupted run.")
    add_training_arguments(p, "embedding")
    p.add_argument("--target-endpoint", default=None, metavar="NAME",
                   help="endpoint of the module to regress, e.g. block3 (preset embedding.target_endpoint)")
    p.add_argument("--targets", choices=TARGET_MODES, default=None,
                   help="cache: compute the targets once and store them with the dataset; on-the-fly: apply the "
                   "module in the input pipeline (preset)")
    p.add_argument("--loss", choices=sorted(EMBEDDING_LOSSES), default=None,
                   help="huber: the paper's area-weighted Huber loss; centered-huber: the same without each channel's "
                   "spherical mean (degree 0, which pose estimation ignores) (preset)")
    p.add_argument("--rotate-augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random in-plane rotations of the training views (image rotated, target rolled in "
                   "longitude) (preset)")
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA-compile the training step (faster on CPU; Keras leaves it off there by default) (preset)")
    p.add_argument("--targets-from", choices=TARGET_SOURCES, default=None,
                   help="view: each view's Phi(S(R_v M)) (the paper's); mesh: Lambda_{R_v} T_M, the exact rotation "
                   "of one template per mesh (the mean of its views' targets rotated back), exactly equivariant "
                   "(preset)")
    p.add_argument("--target-scaling", choices=TARGET_SCALINGS, default=None,
                   help="none: the loss in the targets' units; channel: each target channel measured in units of "
                   "its own spread over the training split (the rotation-dependent part; small channels are "
                   "fitted too) (preset)")
    p.add_argument("--architecture", choices=sorted(ARCHITECTURE_SIZES), default=None,
                   help="encoder-decoder: the paper's EmbeddingNet (1D bottleneck; sizes --latent-dim, "
                   "--base-filters, --max-filters); lifted: LiftedEmbeddingNet, the view lifted onto the sphere grid "
                   "and a circular CNN, exactly equivariant to in-plane turns (sizes --lift-bandwidth, "
                   "--stem-stride, --base-filters, --max-filters, --context-filters) (preset)")
    p.add_argument("--lift-bandwidth", type=int, default=None, metavar="B",
                   help="lifted: bandwidth of the 2B x 2B grid the view is lifted onto (preset)")
    p.add_argument("--stem-stride", type=int, choices=(1, 2), default=None,
                   help="lifted: 2 = a 5x5 stride-2 stem conv (the view lifted at twice the CNN's first resolution, "
                   "for thin parts), 1 = 3x3 (preset)")
    p.add_argument("--context-filters", type=int, default=None,
                   help="lifted: channels of the context ring and the global shape vector (preset)")
    p.set_defaults(func=run_embedding)

    e = subparsers.add_parser(
        "eval-embedding", help="validation loss / relative error and learned equivariance of a trained EmbeddingNet",
        description="On held-out meshes: area-weighted Huber loss and relative error against the targets, and the "
        "equivariance error ||E(I_b) - Lambda E(I_a)|| / ||Lambda E(I_a)|| (Lambda: the exact rotation by "
        "R_b R_a^T) over view pairs of one mesh, per category, next to a randomly initialized network and the "
        "targets themselves (the measure train-sphcnn reports). Writes JSON.")
    add_run_dir_argument(e, "train-embedding run directory (or an embedding .keras file)", old="--model")
    e.add_argument("--data", required=True, metavar="DIR", help="dataset directory from make-data")
    e.add_argument("--module", default=None, metavar="DIR",
                   help="spherical-CNN Hub module (default: the one in the run's run_info.json)")
    e.add_argument("--target-endpoint", default=None, metavar="NAME",
                   help="endpoint (default: the one in the run's run_info.json)")
    e.add_argument("--split", default="test", help="held-out split (default test)")
    e.add_argument("--out", required=True, metavar="FILE", help="output JSON file")
    e.set_defaults(func=run_eval_embedding)


def _register_baselines(subparsers):
    r = subparsers.add_parser(
        "train-regression", help="train the pose-regression baseline (image -> canonical orientation)",
        description="Trains PoseRegressor (the embedding's image encoder up to the bottleneck + a pose head, 6D "
        "output mapped to SO(3)) to regress each view's object pose: RMSE loss for --warmup-epochs, then the "
        "geodesic loss. Needs aligned meshes. Writes TensorBoard logs, checkpoints, history.json, regression.keras "
        "and run_info.json into --run-dir; rerunning the same command resumes an interrupted run. "
        "Evaluate with: sphembed eval-pose --method regression --model RUN_DIR.")
    _baseline_flags(r, "regression", schedule=True)
    r.add_argument("--warmup-epochs", type=float, default=None,
                   help="epochs of RMSE loss before the geodesic loss (preset)")
    r.add_argument("--latent-dim", type=int, default=None,
                   help="encoder bottleneck size (preset; default: the preset's embedding latent_dim)")
    r.add_argument("--base-filters", type=int, default=None,
                   help="channels of the first encoder stage (preset; default: the embedding's)")
    r.add_argument("--max-filters", type=int, default=None,
                   help="encoder channel cap (preset; default: the embedding's)")
    r.add_argument("--head-units", type=int, nargs="+", default=None, metavar="UNITS",
                   help="hidden sizes of the pose head (preset; Mahendran et al.: 1000 500)")
    r.set_defaults(func=run_regression)

    k = subparsers.add_parser(
        "train-keypointnet", help="train the KeypointNet baseline on view pairs of one mesh",
        description="Trains KeypointNet (dilated fully convolutional keypoint network + orientation network) on "
        "pairs of views of one mesh with their relative pose: multi-view consistency, Procrustes pose (with "
        "Gaussian noise), separation, silhouette, variance and orientation losses. Writes TensorBoard logs, "
        "checkpoints, history.json, keypointnet.keras and run_info.json into --run-dir; rerunning the same "
        "command resumes an interrupted run. Evaluate with: sphembed eval-pose --method keypointnet --model RUN_DIR.")
    _baseline_flags(k, "keypointnet", schedule=False)
    k.add_argument("--num-keypoints", type=int, default=None, help="number of keypoints N (preset; paper 10)")
    k.add_argument("--filters", type=int, default=None,
                   help="channels of the keypoint network; the orientation network has half (preset; paper 64)")
    k.add_argument("--image-size", type=int, default=None,
                   help="side the images are resized to before the networks (preset; 0: the dataset's size)")
    k.add_argument("--noise", type=float, default=None,
                   help="std of the Gaussian noise on the keypoints in the pose loss (preset; paper 0.1)")
    k.add_argument("--partners", type=int, default=None, help="view pairs per view per epoch (preset)")
    k.set_defaults(func=run_keypointnet)


def _baseline_flags(p, name, schedule):
    p.add_argument("--data", required=True, metavar="DIR", help="dataset directory from make-data (aligned meshes)")
    add_run_dir_argument(p, "output directory of the run (rerunning the same command resumes it)")
    p.add_argument("--preset", default="demo",
                   help=f"preset whose 'baselines' section ({name}) gives the defaults (demo, paper)")
    add_fit_arguments(p, schedule)


def run_sphcnn(args):
    from sphembed.models.train.sphcnn import train_sphcnn

    _check_data(args, "train-sphcnn")
    _, info = train_sphcnn(args.data, args.run_dir, strategy=args.strategy, verbose=args.verbose,
                           **config_from_args(args, "sphcnn"))
    res = info["results"]
    print(f"train-sphcnn: accuracy rotated train {res['train_accuracy_rotated']:.3f} / test "
          f"{res['test_accuracy_rotated']:.3f}, {res['parameters']} parameters, {res['seconds_per_epoch']:.1f} "
          f"s/epoch; {args.run_dir}/{info['model']} (and best.keras, last.keras), run_info.json")
    return 0


def run_embedding(args):
    from sphembed.models.train.embedding import train_embedding

    cfg = config_from_args(args, "embedding")
    _check_data(args, "train-embedding")
    _, info = train_embedding(args.data, args.module, args.run_dir, strategy=args.strategy, verbose=args.verbose,
                              **cfg)
    res = info["results"]
    print(f"train-embedding: {args.run_dir}/{info['model']} (endpoint {info['config']['target_endpoint']}, "
          f"val Huber {res['val_huber']:.4g}, val relative error {res['val_relative_error']:.4g})")
    return 0


def run_eval_embedding(args):
    from sphembed.models.train.embedding_eval import evaluate_embedding
    from sphembed.models.train.run_dir import load_run, read_run_info

    info = read_run_info(args.run_dir)
    module = args.module or info.get("inputs", {}).get("module")
    endpoint = args.target_endpoint or info.get("config", {}).get("target_endpoint")
    if not module or not endpoint:
        raise SystemExit("eval-embedding: give --module and --target-endpoint (the model is not in a train-embedding "
                         "run directory with run_info.json)")
    result = evaluate_embedding(load_run(args.run_dir, stage="embedding"), args.data, module, endpoint,
                                split=args.split, targets_from=info.get("config", {}).get("targets_from", "view"))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    eq = result["equivariance"]["all"]
    print(f"eval-embedding: Huber {result['huber']:.4g}, relative error {result['relative_error']:.4g}; "
          f"equivariance error trained {eq['trained']:.4g} vs random init {eq['random_init']:.4g} "
          f"(targets {eq['targets']:.4g}) -> {args.out}")
    return 0


def run_regression(args):
    from sphembed.models.train.baselines import train_regression

    _check_data(args, "train-regression")
    _, info = train_regression(args.data, args.run_dir, strategy=args.strategy, verbose=args.verbose,
                               **config_from_args(args, "baselines", "regression"))
    _print_baseline("train-regression", args, info, "geodesic_deg")
    return 0


def run_keypointnet(args):
    from sphembed.models.train.baselines import train_keypointnet

    _check_data(args, "train-keypointnet")
    _, info = train_keypointnet(args.data, args.run_dir, strategy=args.strategy, verbose=args.verbose,
                                **config_from_args(args, "baselines", "keypointnet"))
    _print_baseline("train-keypointnet", args, info, "pose_deg")
    return 0


def _print_baseline(command, args, info, metric):
    training = info["training"]
    what = "geodesic" if metric == "geodesic_deg" else "pose"
    print(f"{command}: {args.run_dir}/{info['model']} (training {what} error "
          f"{training['last_epoch'].get(metric, float('nan')):.1f} deg, {training['seconds']:.0f} s)")
