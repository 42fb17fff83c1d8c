"""TensorFlow's C++ and absl start-up chatter, kept out of the command line's output (TF-free).

Why TF_CPP_MIN_LOG_LEVEL=2 does not silence TensorFlow >= 2.16: its C++ libraries log through absl, and lines logged
while the shared libraries load come before absl's log initialization; absl then prints them all ("WARNING: All log
messages before absl::InitializeLog() is called are written to STDERR", the oneDNN notice from port.cc, "Could not
find cuda drivers" from cudart_stub.cc, once per library that links absl) whatever the level. And some lines that
are no errors come at E level, which level 2 lets through: "failed call to cuInit ... (303)" when the CUDA platform
starts on a machine without a GPU, "oneDNN supports DT_INT32 only on platforms with AVX-512" when a graph is
optimized on such a CPU.

`quiet_tensorflow_startup()` (called by `sphembed.cli.main`) therefore, unless the user asked for the logs:
  * sets TF_CPP_MIN_LOG_LEVEL=3 (C++ INFO, WARNING and ERROR lines off; FATAL kept; failing operations still raise
    Python exceptions with their messages) when `tensorflow` is first imported, not before, so the sub-processes
    of `sphembed demo` decide for themselves;
  * runs that import with file descriptor 2 captured, then writes back every captured line except the start-up
    chatter (`is_startup_chatter`): Python warnings and anything else pass, in order; if the import fails,
    everything captured is written back.
The user asked for the logs when they set TF_CPP_MIN_LOG_LEVEL themselves (respected as it is) or passed
`sphembed -v` / `--verbose` (TF_CPP_MIN_LOG_LEVEL=0 unless set: TensorFlow's own default, inherited by the
sub-processes of `sphembed demo`).
"""

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

__all__ = ["quiet_tensorflow_startup", "is_startup_chatter"]

_CHATTER = re.compile(
    r"(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]\s]+:\d+\] .*"  # absl's (TensorFlow >= 2.16; seconds may be epoch)
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] [^\]\s]+:\d+\] .*"  # TensorFlow's older format
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.)\s*")


def is_startup_chatter(line):
    """True for a C++ INFO / WARNING / ERROR log line of TensorFlow or absl's pre-initialization notice (not FATAL)."""
    return _CHATTER.fullmatch(line) is not None


@contextlib.contextmanager
def _without_chatter_on_fd2():
    """Captures file descriptor 2 (C++ and Python stderr) and writes it back without the start-up chatter."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        yield
        return
    failed = True
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            kept = lines if failed else [line for line in lines if not is_startup_chatter(line)]
            if kept:
                os.write(2, "".join(kept).encode())


class _QuietLoader(importlib.abc.Loader):
    """Executes the real `tensorflow` package loader inside `_without_chatter_on_fd2`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        module.__loader__ = module.__spec__.loader = self._loader  # the package keeps its own loader afterwards
        with _without_chatter_on_fd2():
            self._loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as usual and wraps its loader in `_QuietLoader` (once; then removes itself)."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_startup(verbose=False):
    """Keeps TensorFlow's start-up chatter out of this process's stderr (see the module docstring).

    Args:
      verbose: the user asked for TensorFlow's logs (`sphembed -v`).

    Returns:
      True when the chatter will be filtered; False when the user asked for the logs (verbose or their own
      TF_CPP_MIN_LOG_LEVEL) or TensorFlow is already imported.
    """
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return False
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
    return True
