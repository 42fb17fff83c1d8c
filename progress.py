"""Progress bars for terminals and for logs (TF-free): every sphembed progress bar comes from `progress_bar`.

On a terminal it is a plain tqdm bar. When the bar's stream is a file or a pipe (the demo's logs, CI, `| cat`), a bar
redrawn with carriage returns turns into one line of thousands of updates, so the bar prints whole lines instead:
one newline-terminated line when it starts, one each time the count enters another 1/LOG_STEPS of the total (of
the total at that moment, when it grows), and the final count when it closes (no '\\r', no cursor movement); a bar
without a known total prints at most one line per LOG_INTERVAL_S seconds.
"""

import math
import sys

from tqdm import tqdm

__all__ = ["LOG_STEPS", "LOG_INTERVAL_S", "progress_bar"]

LOG_STEPS = 10
LOG_INTERVAL_S = 60.0


class _Lines:
    """The stream of a log bar: whole lines pass, tqdm's bare cursor writes ('\\r', the closing '\\n') do not."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        if text.strip():
            self._stream.write(text)

    def flush(self):
        self._stream.flush()


class _LogBar(tqdm):
    """tqdm that prints a line when the count enters another 1/LOG_STEPS of the (current) total, or, without a
    total, at each refresh; and the final count when it closes. Never the same count twice."""

    def _step(self, n):
        return math.floor(n * LOG_STEPS / self.total) if self.total else n

    def _line(self):
        self.fp.write(self.__str__().strip() + "\n")
        self.fp.flush()
        self._shown = self.n

    def display(self, msg=None, pos=None):
        shown = getattr(self, "_shown", None)
        if msg is None and (shown is None or self._step(self.n) > self._step(shown)):  # msg="" only clears
            self._line()
        return True

    def close(self):
        if not self.disable and self.n != getattr(self, "_shown", None):
            self._line()
        super().close()


def progress_bar(iterable=None, total=None, desc=None, unit="it", disable=False, file=None):
    """A tqdm progress bar suited to its stream (see the module docstring).

    Args:
      iterable: optional iterable to wrap (its len() is the total when it has one).
      total: expected number of items (default len(iterable) when defined).
      desc, unit, disable: as in tqdm.
      file: the stream (default sys.stderr, tqdm's).

    Returns:
      a tqdm instance (iterate it, or call update(n) / close(), or use it as a context manager).
    """
    stream = sys.stderr if file is None else file
    options = dict(total=total, desc=desc, unit=unit, disable=disable)
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(iterable, file=stream, **options)
    if total is None:
        try:
            total = len(iterable)
        except TypeError:  # generators, datasets of unknown cardinality
            total = None
    # With a total every update reaches display(), which keeps one line per step (the total may grow, e.g. make-data's
    # rounds of mesh checks); without one, tqdm refreshes every LOG_INTERVAL_S.
    return _LogBar(iterable, file=_Lines(stream), miniters=1, mininterval=0 if total else LOG_INTERVAL_S,
                   ascii=True, **{**options, "total": total})
