"""Quiet start-up (sphembed.startup_logs): the CLI hides TensorFlow's C++ / absl chatter unless asked for it."""

import os
import subprocess
import sys

import pytest

from sphembed.startup_logs import is_startup_chatter

# Lines TensorFlow 2.21 prints on a CPU machine (the first three whatever TF_CPP_MIN_LOG_LEVEL says; the E-level
# ones at level 2, the demo's default before).
CHATTER = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796179387.727472    4663 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.\n",
    "I0000 00:00:1796179387.727833    4663 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.\n",
    "E0000 00:00:1796179392.117191    4663 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)\n",
    "E0000 00:00:1796185152.310181   24433 util.cc:131] oneDNN supports DT_INT32 only on platforms with AVX-512. "
    "Falling back to the default Eigen-based implementation if present.\n",
    "I0000 00:00:1796179378.446092    4561 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.\n",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.\n",
    "2023-05-02 10:11:12.123456: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: Could not "
    "find TensorRT\n",
]
NOT_CHATTER = [
    "F0000 00:00:1796179392.117191    4663 cuda_platform.cc:52] Check failed: fatal errors stay visible\n",
    "make-data: wrote runs/demo/data/3dof: 8 categories\n",
    "Traceback (most recent call last):\n",
    "/usr/lib/python3/dist-packages/foo.py:3: UserWarning: a Python warning\n",
    "checking meshes:  10%|#         | 2/20 [00:00<00:01, 12.00mesh/s]\n",
]


@pytest.mark.parametrize("line", CHATTER)
def test_chatter_lines_preset(line):
    assert is_startup_chatter(line)


@pytest.mark.parametrize("line", NOT_CHATTER)
def test_other_lines_are_kept(line):
    assert not is_startup_chatter(line)


def _info(*flags, **env):
    """stderr lines of `python -m sphembed [flags] info` with TF_CPP_MIN_LOG_LEVEL unset unless given."""
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | env
    proc = subprocess.run([sys.executable, "-m", "sphembed", *flags, "info"], capture_output=True, text=True,
                          env=environ, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GPU visible" in proc.stdout  # TensorFlow was imported and asked for devices
    return proc.stderr.splitlines(keepends=True)


def test_cli_hides_startup_chatter_unless_asked():
    quiet, verbose = _info(), _info("-v")
    assert not [line for line in quiet if is_startup_chatter(line)]
    # Only the chatter is held back: everything else on stderr comes through, in order. (-v sets the user's
    # TF_CPP_MIN_LOG_LEVEL=0, so this run also shows that a level the user set turns the filter off.)
    assert [line for line in verbose if not is_startup_chatter(line)] == quiet
