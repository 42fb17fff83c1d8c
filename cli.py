"""The `sphembed` command line: one entry point, one sub-command per job.

Each capability registers its sub-commands from a light module (no TensorFlow import at module level, so
`sphembed --help` is fast): the module defines `register(subparsers)`, which adds parsers whose default `func`
takes the parsed arguments and returns an exit code.
"""

import argparse
import importlib
import platform
import sys
from importlib import metadata

from sphembed.data.gl_backend import INSTALL_HINT, detect_backend
from sphembed.startup_logs import quiet_tensorflow_startup

__all__ = ["main", "build_parser"]

# Modules that define `register(subparsers)`; each adds its sub-commands.
COMMAND_MODULES = ("sphembed.data.cli", "sphembed.pose.cli", "sphembed.models.train.commands",
                   "sphembed.hub_export.cli", "sphembed.synthesis.cli", "sphembed.demo")


def _info(args):
    """Prints library versions, the headless rendering back-end and the visible accelerators."""
    print(f"python       {platform.python_version()} ({sys.executable})")
    for dist in ("sphembed", "tensorflow", "keras", "tensorflow-hub", "tensorflow-graphics", "tf-keras", "numpy",
                 "scipy", "trimesh", "embreex", "pyrender", "PyOpenGL"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        print(f"{dist:<20} {version}")
    backend = detect_backend()
    print(f"render backend       {backend or 'none (' + INSTALL_HINT + ')'}")
    if not args.no_tf:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        print(f"GPU visible          {'yes: ' + ', '.join(d.name for d in gpus) if gpus else 'no'}")
        print(f"CPU devices          {len(tf.config.list_physical_devices('CPU'))}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sphembed",
        description="Rotation-equivariant spherical embeddings of images: data, spherical CNN, embedding, "
        "relative pose, novel views. Every sub-command has --help.",
    )
    parser.add_argument("-v", "--verbose", dest="tf_logs", action="store_true",
                        help="show TensorFlow's C++ and absl logs (hidden unless TF_CPP_MIN_LOG_LEVEL is set); give "
                        "it before the sub-command: sphembed -v make-data ...")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    info = sub.add_parser("info", help="print library versions, the rendering back-end and whether a GPU is visible")
    info.add_argument("--no-tf", action="store_true", help="skip importing TensorFlow (faster)")
    info.set_defaults(func=_info)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    quiet_tensorflow_startup(verbose=args.tf_logs)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
