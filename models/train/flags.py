"""Command-line flags shared by the training commands (train-sphcnn, train-embedding, train-synthesis,
train-regression, train-keypointnet). TF-free: the CLI imports it to build its parsers. Every flag defaults to None
(= the preset's value), except --strategy and --verbose."""

import sys

__all__ = ["STRATEGIES", "add_fit_arguments"]

STRATEGIES = ("default", "mirrored", "multi-worker")


def add_fit_arguments(parser, schedule=True):
    """Adds --epochs, --batch-size, --learning-rate, (--lr-boundaries, --lr-decay when schedule), --strategy, --seed,
    --verbose to an argparse parser."""
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (preset)")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch size, split over replicas (preset)")
    parser.add_argument("--learning-rate", type=float, default=None, help="initial Adam learning rate (preset)")
    if schedule:
        parser.add_argument("--lr-boundaries", type=float, nargs="*", default=None, metavar="EPOCH",
                            help="epochs at which the learning rate is multiplied by --lr-decay (preset)")
        parser.add_argument("--lr-decay", type=float, default=None, help="learning-rate factor at each boundary (preset)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="tf.distribute strategy: default (one device), mirrored (all local GPUs or CPUs), "
                        "multi-worker (the cluster in TF_CONFIG)")
    parser.add_argument("--seed", type=int, default=None, help="seed of weights, shuffling and augmentation (preset)")
    parser.add_argument("--verbose", type=int, default=1 if sys.stdout.isatty() else 2, choices=(0, 1, 2),
                        help="Keras verbosity: 1 progress bar (the default on a terminal), 2 one line per epoch (the "
                        "default when stdout is a file or pipe: Keras redraws its bar with carriage returns), 0 "
                        "silent")
