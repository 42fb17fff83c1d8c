"""Real kills: `make-data` and `train-embedding` SIGKILLed mid-run (the process group: command and workers), then
rerun with the same command, end exactly where an uninterrupted run ends (byte-identical dataset; bitwise-equal
final and best weights)."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np

from sphembed.cli import main as cli_main
from sphembed.data.make_data import build_dataset
from sphembed.presets import get_preset

DATA_FLAGS = ["--source", "procedural", "--categories", "chair,mug", "--meshes-per-category", "6,2",
              "--views-per-mesh", "2", "--sphere-bandwidth", "8", "--image-size", "32", "--meshes-per-shard", "1",
              "--rotations", "3dof", "--workers", "1", "--no-progress"]
EPOCHS = 12


def _command(*args):
    return [sys.executable, "-m", "sphembed", *args]


def _run(cmd, log):
    with open(log, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    assert proc.returncode == 0, open(log).read()[-3000:]
    return open(log).read()


def _kill_when(cmd, ready, log, timeout=600):
    """Starts cmd in its own process group, polls ready() every 20 ms and SIGKILLs the group (the command and its
    worker processes) as soon as it is true. Fails if the command ends first."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, f"the command ended before the kill:\n{open(log).read()[-3000:]}"
            assert time.monotonic() < deadline, "the command made no progress"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _files(folder):
    return {os.path.relpath(p, folder): open(p, "rb").read()
            for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True) if os.path.isfile(p)}


def test_make_data_killed_mid_build_resumes_byte_identical(tmp_path):
    config = get_preset("demo", "data", categories=["chair", "mug"], meshes_per_category={"train": 6, "test": 2},
                        views_per_mesh=2, sphere_bandwidth=8, image_size=32, meshes_per_shard=1, rotations="3dof")
    reference = str(tmp_path / "reference")
    build_dataset(reference, config, workers=1, progress=False)  # uninterrupted (in this process)

    out = str(tmp_path / "killed")
    cmd = _command("make-data", "--out", out, *DATA_FLAGS)
    _kill_when(cmd, lambda: len(glob.glob(os.path.join(out, "*.tfrecord"))) >= 2, str(tmp_path / "killed.log"))
    with open(os.path.join(out, "manifest.json")) as fh:
        assert json.load(fh)["status"] == "incomplete"
    shards = set(glob.glob(os.path.join(out, "*.tfrecord")))
    assert 2 <= len(shards) < 16  # killed mid-build: 12 train + 4 test shards of one mesh each
    _run(cmd, str(tmp_path / "rerun.log"))
    assert _files(out) == _files(reference)


def test_train_embedding_killed_mid_epoch_resumes_exactly(tmp_path, write_tiny_dataset, export_tiny_sphcnn):
    (tmp_path / "data").mkdir()
    data = write_tiny_dataset(tmp_path / "data", np.random.default_rng(0), meshes=4)  # 24 train views
    module = export_tiny_sphcnn(tmp_path / "module")

    def train(run):
        # The demo recipe (lifted net, channel-scaled centered Huber, mesh targets, shuffling, an LR step), tiny.
        return _command("train-embedding", "--data", data, "--module", module, "--run-dir", run,
                        "--target-endpoint", "block1", "--epochs", str(EPOCHS), "--batch-size", "4",
                        "--lr-boundaries", "8", "--lift-bandwidth", "8", "--context-filters", "8", "--base-filters", "4",
                        "--max-filters", "8",
                        "--verbose", "2")

    reference = str(tmp_path / "reference")
    assert cli_main(train(reference)[3:]) == 0  # uninterrupted, in this process (runs are reproducible)

    run = str(tmp_path / "run")
    state = os.path.join(run, "backup", "state.json")

    def some_epochs_done():  # the kill then lands in the epoch after (or while its files are written)
        try:
            with open(state) as fh:
                return json.load(fh)["epoch"] >= 3
        except (OSError, ValueError):  # not written yet
            return False

    _kill_when(train(run), some_epochs_done, str(tmp_path / "killed.log"))
    with open(state) as fh:
        finished = json.load(fh)["epoch"]
    assert 3 <= finished < EPOCHS and not os.path.exists(os.path.join(run, "embedding.keras"))
    log = _run(train(run), str(tmp_path / "resumed.log"))
    # It resumes from the last finished epoch: only the epoch that was running is repeated.
    first = next(line for line in log.splitlines() if line.startswith("Epoch "))
    assert first == f"Epoch {finished + 1}/{EPOCHS}", first
    with open(os.path.join(run, "history.json")) as fh:
        assert [e["epoch"] for e in json.load(fh)["epochs"]] == list(range(EPOCHS))
    assert not os.path.exists(os.path.join(run, "backup"))
    # Same weights as the uninterrupted run, bitwise: the backup restores weights, optimizer state and epoch, and
    # the data pipeline is advanced to the resumed epoch (shuffle order and augmentation draws).
    for name in ("embedding.keras", "best.keras"):
        expected = keras.saving.load_model(os.path.join(reference, name), compile=False).get_weights()
        got = keras.saving.load_model(os.path.join(run, name), compile=False).get_weights()
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b, err_msg=name)
