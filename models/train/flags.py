"""Command-line flags shared by the training and evaluation commands, and the option names the trainers check
(one list for the command line and the code). TF-free: the CLI imports it to build its parsers. Every training flag
defaults to None (= the preset's value), except --strategy and --verbose.

The run directory is `--run-dir` for every command that writes or reads one (`add_run_dir_argument`); the names
older versions used (train-sphcnn and demo --out, synthesize / eval-synthesis --run, eval-embedding --model) still
work as deprecated aliases that print a warning.
"""

import argparse
import sys

__all__ = ["STRATEGIES", "TARGET_MODES", "TARGET_SCALINGS", "TARGET_SOURCES", "EMBEDDING_LOSSES",
           "add_fit_arguments", "add_run_dir_argument", "add_training_arguments"]

STRATEGIES = ("default", "mirrored", "multi-worker")
TARGET_MODES = ("cache", "on-the-fly")  # spherical-CNN targets computed once and cached, or in the input pipeline
TARGET_SCALINGS = ("none", "channel")
TARGET_SOURCES = ("view", "mesh")
EMBEDDING_LOSSES = ("centered-huber", "huber")  # sphembed.models.losses.EMBEDDING_LOSSES (no TensorFlow import here)


class _DeprecatedAlias(argparse.Action):
    """An old flag name: stores into the new flag's destination and warns on stderr."""

    def __init__(self, option_strings, dest, new=None, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: {option_string} is deprecated, use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_run_dir_argument(parser, help, old=None, default=None):
    """Adds --run-dir DIR (dest run_dir) and, when `old` names a flag of older versions (e.g. "--out"), that flag as
    a deprecated alias: it sets run_dir too and prints a warning. One of them is required, unless a `default` is
    given."""
    required = default is None
    group = parser.add_mutually_exclusive_group(required=required) if old else parser
    group.add_argument("--run-dir", dest="run_dir", metavar="DIR", help=help,
                       **({} if old else {"required": required}))
    if default is not None:
        parser.set_defaults(run_dir=default)
    if old:
        group.add_argument(old, dest="run_dir", metavar="DIR", action=_DeprecatedAlias, new="--run-dir",
                           help="deprecated alias of --run-dir")


def add_fit_arguments(parser, schedule=True):
    """Adds --epochs, --batch-size, --learning-rate, (--lr-boundaries, --lr-decay when schedule), --strategy, --seed,
    --verbose to an argparse parser."""
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (preset)")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch size, split over replicas (preset)")
    parser.add_argument("--learning-rate", type=float, default=None, help="initial Adam learning rate (preset)")
    if schedule:
        parser.add_argument("--lr-boundaries", type=float, nargs="*", default=None, metavar="EPOCH",
                            help="epochs at which the learning rate is multiplied by --lr-decay (preset)")
        parser.add_argument("--lr-decay", type=float, default=None,
                            help="learning-rate factor at each boundary (preset)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="tf.distribute strategy: default (one device), mirrored (all local GPUs or CPUs), "
                        "multi-worker (the cluster in TF_CONFIG)")
    parser.add_argument("--seed", type=int, default=None, help="seed of weights, shuffling and augmentation (preset)")
    parser.add_argument("--verbose", type=int, default=1 if sys.stdout.isatty() else 2, choices=(0, 1, 2),
                        help="Keras verbosity: 1 progress bar (the default on a terminal), 2 one line per epoch (the "
                        "default when stdout is a file or pipe: Keras redraws its bar with carriage returns), 0 "
                        "silent")


def add_training_arguments(parser, section):
    """The flags shared by train-embedding and train-synthesis (paths, schedule, sizes, strategy, seed)."""
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset directory from make-data")
    parser.add_argument("--module", required=True, metavar="DIR",
                        help="spherical-CNN Hub module directory (export-hub --model sphcnn)")
    add_run_dir_argument(parser, "output directory of the run (rerunning the same command resumes it)")
    parser.add_argument("--preset", default="demo",
                        help=f"preset whose '{section}' section gives the defaults (demo, paper)")
    parser.add_argument("--latent-dim", type=int, default=None, help="size of the 1D bottleneck (preset; paper 1024)")
    parser.add_argument("--base-filters", type=int, default=None,
                        help="channels at the highest resolution of encoder and decoder (preset; paper 64)")
    parser.add_argument("--max-filters", type=int, default=None, help="channel cap (preset; paper 256)")
    add_fit_arguments(parser)
