"""Training utilities shared by every sphembed trainer (spherical CNN, embedding, synthesis, baselines).

One run directory holds everything a run writes, so a killed run resumes where it stopped:

  RUN_DIR/logs/            TensorBoard event files (train and validation scalars, learning rate)
  RUN_DIR/backup/          state of the last finished epoch (`RunCheckpoints`): epoch-<k>.weights.h5 (weights and
                           optimizer state) and state.json {"epoch": k epochs finished, "weights": file name,
                           "best": the monitored value of best.keras}; deleted when fit() completes; a new fit() on
                           the same RUN_DIR resumes from the last finished epoch
  RUN_DIR/best.keras       the model with the best `monitor` value so far (.keras format)
  RUN_DIR/last.keras       the model after the last finished epoch
  RUN_DIR/history.json     {"epochs": [{"epoch", "seconds", <every logged metric>}, ...], "total_seconds",
                           "steps_per_epoch"}; epochs are 0-based, and a resumed run keeps the entries of the
                           epochs finished before the kill

Every file is written to a temporary name and renamed, and backup/state.json is written last, so a kill (SIGKILL,
power loss) at any instant leaves the files of the last finished epoch, consistent with each other: the resumed run
repeats at most the epoch that was running.

Checkable properties (tests/models/train/test_fit.py, tests/models/train/test_kill_resume.py):
  * a run killed at any point and restarted with the same arguments ends with the same weights as an uninterrupted
    run: the backup restores weights, optimizer state and the epoch counter, and the training data is one stream
    for the whole run (a finite tf.data.Dataset is repeated, `_one_stream`) that the resumed run skips by the
    batches the finished epochs trained on, so every epoch sees the batches, shuffle order and augmentation draws
    it would have seen (skipping reads those batches again: seconds per skipped epoch). Datasets of unknown
    cardinality resume with the weights and epoch but a new data order;
  * best.keras keeps the best epoch over the whole run, kills included (its value is restored with the backup);
  * under make_strategy("mirrored") with two devices, one step on a global batch gives the same weights as the
    default strategy on the same batch (the loss is averaged over the global batch);
  * piecewise_schedule(boundaries, values, steps_per_epoch) returns values[i] for epochs in
    [boundaries[i-1], boundaries[i]); learning_rate_schedule, the schedule of every trainer, is the one with
    values[i] = learning_rate * decay^i.

What a run directory holds besides these files (run_info.json, the final model) and how to load one:
`sphembed.models.train.run_dir`.
"""

import glob
import json
import os
import shutil
import time

import keras
import tensorflow as tf

from sphembed.data.manifest import write_json  # atomic: temporary file, then rename
from sphembed.models.train.flags import STRATEGIES  # one list for the CLI (TF-free) and the code

__all__ = [
    "STRATEGIES",
    "make_strategy",
    "piecewise_schedule",
    "learning_rate_schedule",
    "EpochHistory",
    "RunCheckpoints",
    "finished_epochs",
    "standard_callbacks",
    "fit_and_record",
]

def make_strategy(name="default"):
    """A tf.distribute strategy by name.

    Args:
      name: "default" (the current/default strategy: one device), "mirrored" (synchronous data parallelism over
        all local GPUs, or over all logical CPU devices when there is no GPU) or "multi-worker" (synchronous
        data parallelism over the workers described by the TF_CONFIG environment variable).

    Returns:
      A tf.distribute.Strategy; build and compile models inside `strategy.scope()`.

    Raises:
      ValueError: if name is unknown, or name is "multi-worker" and TF_CONFIG is not set.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus if gpus else tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    if not os.environ.get("TF_CONFIG"):
        raise ValueError("strategy 'multi-worker' needs the TF_CONFIG environment variable (cluster spec and this "
                         "worker's task), see https://www.tensorflow.org/guide/distributed_training")
    return tf.distribute.MultiWorkerMirroredStrategy()


def piecewise_schedule(boundaries, values, steps_per_epoch):
    """Piecewise-constant learning rate with boundaries given in epochs.

    Args:
      boundaries: increasing epoch numbers (floats allowed), length n.
      values: learning rates, length n + 1; values[i] is used from epoch boundaries[i-1] to boundaries[i].
      steps_per_epoch: int > 0, optimizer steps per epoch.

    Returns:
      keras.optimizers.schedules.PiecewiseConstantDecay over optimizer steps.

    Raises:
      ValueError: if len(values) != len(boundaries) + 1, boundaries are not increasing, or steps_per_epoch < 1.
    """
    boundaries, values = list(boundaries), [float(v) for v in values]
    if len(values) != len(boundaries) + 1:
        raise ValueError(f"values must have len(boundaries) + 1 = {len(boundaries) + 1} entries, got {values}")
    if any(b1 <= b0 for b0, b1 in zip(boundaries, boundaries[1:])):
        raise ValueError(f"boundaries must be increasing epochs, got {boundaries}")
    if int(steps_per_epoch) < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    steps = [int(round(b * steps_per_epoch)) for b in boundaries]
    return keras.optimizers.schedules.PiecewiseConstantDecay(steps, values)


def learning_rate_schedule(learning_rate, boundaries, decay, steps_per_epoch):
    """The learning rate of every sphembed trainer: learning_rate * decay^i after the i-th boundary epoch, a
    `piecewise_schedule` over optimizer steps (the float learning_rate when there are no boundaries)."""
    if not boundaries:
        return float(learning_rate)
    values = [learning_rate * decay ** i for i in range(len(boundaries) + 1)]
    return piecewise_schedule(boundaries, values, steps_per_epoch)


class EpochHistory(keras.callbacks.Callback):
    """Writes RUN_DIR/history.json after every epoch: logged metrics and wall-clock seconds per epoch.

    On a resumed run (BackupAndRestore), entries of epochs at or after the resumed epoch are replaced, earlier
    ones are kept, so the file describes the whole run.
    """

    def __init__(self, path, steps_per_epoch=None):
        super().__init__()
        self.path = path
        self.steps_per_epoch = steps_per_epoch
        self.epochs = []
        self._start = None

    def on_train_begin(self, logs=None):
        self.epochs = []
        if os.path.exists(self.path):
            with open(self.path) as fh:
                self.epochs = json.load(fh)["epochs"]

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs = [e for e in self.epochs if e["epoch"] < epoch]
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        entry = {"epoch": int(epoch), "seconds": time.perf_counter() - self._start}
        entry.update({k: float(v) for k, v in (logs or {}).items()})
        self.epochs.append(entry)
        record = {"epochs": self.epochs, "total_seconds": sum(e["seconds"] for e in self.epochs),
                  "steps_per_epoch": self.steps_per_epoch}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(record, fh, indent=2)
        os.replace(tmp, self.path)


def _backup_state(backup_dir):
    """backup/state.json as a dict, or None when there is no backup."""
    path = os.path.join(backup_dir, "state.json")
    legacy = os.path.join(backup_dir, "training_metadata.json")  # keras.callbacks.BackupAndRestore, before
    if os.path.isfile(path):
        with open(path) as fh:
            return json.load(fh)
    if os.path.isfile(legacy):  # a run killed under the previous version still resumes (its best is unknown)
        with open(legacy) as fh:
            return {"epoch": json.load(fh)["epoch"], "weights": "latest.weights.h5", "best": None}
    return None


def finished_epochs(run_dir):
    """The number of epochs a killed run in run_dir has finished (0 when there is nothing to resume)."""
    state = _backup_state(os.path.join(run_dir, "backup"))
    return int(state["epoch"]) if state else 0


class RunCheckpoints(keras.callbacks.Callback):
    """RUN_DIR/best.keras, RUN_DIR/last.keras and RUN_DIR/backup/ (module docstring), written atomically after every
    epoch; on_train_begin restores the backup's weights and optimizer state (fit_and_record passes the epoch).

    Args:
      run_dir: run directory.
      monitor: logged metric selecting best.keras (a metric missing from the logs raises ValueError).
      mode: "min", "max" or "auto" ("max" for metrics containing "acc", else "min", as keras.callbacks).
    """

    def __init__(self, run_dir, monitor="val_loss", mode="auto"):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.run_dir, self.monitor = run_dir, monitor
        self.backup_dir = os.path.join(run_dir, "backup")
        self._larger_is_better = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.best = None

    def _save(self, save, path):
        """save(tmp) then rename onto path; tmp keeps path's suffixes (.keras, .weights.h5) for Keras."""
        folder, name = os.path.split(path)
        tmp = os.path.join(folder, f"{name.split('.')[0]}.tmp-{os.getpid()}.{name.split('.', 1)[1]}")
        save(tmp)
        os.replace(tmp, path)

    def on_train_begin(self, logs=None):
        for stale in glob.glob(os.path.join(self.run_dir, "*.tmp-*")) + glob.glob(
                os.path.join(self.backup_dir, "*.tmp-*")):
            os.remove(stale)  # left by a kill while writing
        state = _backup_state(self.backup_dir)
        self.best = None if state is None else state["best"]
        if state is not None:
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)  # its variables must exist to be loaded
            self.model.load_weights(os.path.join(self.backup_dir, state["weights"]))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"monitor {self.monitor!r} is not a logged metric; logged: {sorted(logs)}")
        value = float(logs[self.monitor])
        if self.best is None or (value > self.best if self._larger_is_better else value < self.best):
            self._save(self.model.save, os.path.join(self.run_dir, "best.keras"))
            self.best = value
        self._save(self.model.save, os.path.join(self.run_dir, "last.keras"))
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = f"epoch-{epoch + 1:05d}.weights.h5"
        self._save(self.model.save_weights, os.path.join(self.backup_dir, weights))
        write_json(os.path.join(self.backup_dir, "state.json"), {"epoch": epoch + 1, "weights": weights,
                                                                  "best": self.best})  # the commit point
        for old in glob.glob(os.path.join(self.backup_dir, "epoch-*.weights.h5")):
            if os.path.basename(old) != weights:
                os.remove(old)

    def on_train_end(self, logs=None):
        shutil.rmtree(self.backup_dir, ignore_errors=True)


def standard_callbacks(run_dir, monitor="val_loss", mode="auto", steps_per_epoch=None):
    """The callbacks of every sphembed run: history, TensorBoard, best/last checkpoints and the resume backup.

    Args:
      run_dir: directory of the run (created); layout in the module docstring.
      monitor: metric that selects RUN_DIR/best.keras (e.g. "val_loss", "val_accuracy"); must be logged by fit.
      mode: "auto", "min" or "max" for `monitor`.
      steps_per_epoch: recorded in history.json.

    Returns:
      list of keras.callbacks.Callback. EpochHistory writes an epoch before RunCheckpoints commits it, so a kill
      between the two repeats that epoch and replaces its entry (no gap in history.json). The progress bar is
      Keras' own (fit(verbose=1)).
    """
    os.makedirs(run_dir, exist_ok=True)
    return [
        EpochHistory(os.path.join(run_dir, "history.json"), steps_per_epoch=steps_per_epoch),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), update_freq="epoch"),
        RunCheckpoints(run_dir, monitor=monitor, mode=mode),
    ]


def _one_stream(train_data, steps_per_epoch):
    """(dataset, steps_per_epoch) that Keras iterates with ONE iterator for the whole run: a finite dataset of known
    cardinality n becomes dataset.repeat() with n steps per epoch (epoch e is the e-th pass, reshuffled and
    re-augmented by the dataset's own per-iteration seeds). Keras makes its own, varying number of iterators of a
    finite dataset per epoch, each drawing new seeds, so a resumed run could not otherwise find its epoch's order."""
    if steps_per_epoch is None and isinstance(train_data, tf.data.Dataset):
        n = int(train_data.cardinality())
        if n > 0:
            return train_data.repeat(), n
    return train_data, steps_per_epoch


def fit_and_record(model, train_data, run_dir, epochs, validation_data=None, steps_per_epoch=None,
                   monitor="val_loss", mode="auto", callbacks=(), verbose=1):
    """model.fit with the standard callbacks of `run_dir`; resumes a killed run in the same directory (module
    docstring: same weights as an uninterrupted run).

    Args:
      model: a compiled keras.Model (built and compiled inside the strategy scope when distributed).
      train_data: tf.data.Dataset of (inputs, targets) batches (or anything model.fit accepts).
      run_dir: run directory (see the module docstring).
      epochs: total number of epochs of the run (a resumed run trains the remaining ones).
      validation_data: optional dataset evaluated after each epoch; without it `monitor` falls back to "loss".
      steps_per_epoch: optional int, for repeated (infinite) datasets.
      monitor, mode: metric selecting RUN_DIR/best.keras.
      callbacks: extra callbacks, run after the standard ones.
      verbose: Keras' verbosity (1 = progress bar, 2 = one line per epoch, 0 = silent).

    Returns:
      dict read back from RUN_DIR/history.json: {"epochs": [...], "total_seconds": ..., "steps_per_epoch": ...}.
    """
    if validation_data is None and monitor.startswith("val_"):
        monitor = monitor[len("val_"):]
    train_data, steps_per_epoch = _one_stream(train_data, steps_per_epoch)
    cbs = standard_callbacks(run_dir, monitor=monitor, mode=mode, steps_per_epoch=steps_per_epoch) + list(callbacks)
    done = finished_epochs(run_dir)
    if done and steps_per_epoch and isinstance(train_data, tf.data.Dataset):
        train_data = train_data.skip(done * steps_per_epoch)  # the batches the finished epochs trained on
    model.fit(train_data, epochs=epochs, initial_epoch=done, validation_data=validation_data,
              steps_per_epoch=steps_per_epoch, callbacks=cbs, shuffle=False,  # datasets shuffle themselves
              verbose=verbose)
    with open(os.path.join(run_dir, "history.json")) as fh:
        return json.load(fh)
