"""Progress bars (sphembed.progress): plain tqdm on terminals, whole lines per 10% on files and pipes."""

import io

from tqdm import tqdm

from sphembed.progress import LOG_STEPS, progress_bar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_log_bar_iterable_one_line_per_tenth():
    stream = io.StringIO()
    assert sum(progress_bar(range(95), desc="meshes", file=stream)) == sum(range(95))
    text = stream.getvalue()
    assert "\r" not in text and text.endswith("\n") and "\n\n" not in text
    lines = text.splitlines()
    # the start, every 10 items (ceil(95 / LOG_STEPS)), and the final count
    assert len(lines) == 1 + 9 + 1
    assert lines[0].startswith("meshes:   0%") and lines[-1].startswith("meshes: 100%") and "95/95" in lines[-1]


def test_log_bar_updates_in_batches_never_repeats_a_count():
    stream = io.StringIO()
    with progress_bar(total=200, desc="targets", unit="example", file=stream) as bar:
        for start in range(0, 200, 64):
            bar.update(min(64, 200 - start))
    lines = stream.getvalue().splitlines()
    assert [line.split("|")[-1].split()[0] for line in lines] == ["0/200", "64/200", "128/200", "192/200", "200/200"]
    assert len(lines) <= LOG_STEPS + 2


def test_log_bar_unknown_total_and_disabled():
    stream = io.StringIO()
    list(progress_bar(iter(range(5)), desc="batches", file=stream))
    assert "\r" not in stream.getvalue()
    assert stream.getvalue().splitlines()[-1].startswith("batches: 5it")
    quiet = io.StringIO()
    list(progress_bar(range(5), file=quiet, disable=True))
    assert quiet.getvalue() == ""


def test_terminal_bar_is_plain_tqdm():
    stream = _Terminal()
    bar = progress_bar(range(3), desc="x", file=stream)
    assert type(bar) is tqdm
    list(bar)
    assert "\r" in stream.getvalue()  # redrawn in place


def test_log_bar_total_may_grow():
    stream = io.StringIO()
    with progress_bar(total=50, desc="checking meshes", file=stream) as bar:  # make-data's rounds of checks
        bar.update(50)
        bar.total += 50
        for _ in range(50):
            bar.update()
    counts = [line.split("|")[-1].split()[0] for line in stream.getvalue().splitlines()]
    assert counts == ["0/50", "50/50", "60/100", "70/100", "80/100", "90/100", "100/100"]
