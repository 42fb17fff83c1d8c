"""Training utilities shared by every sphembed trainer (spherical CNN, embedding, synthesis, baselines).

One run directory holds everything a run writes, so a killed run resumes where it stopped:

  RUN_DIR/logs/            TensorBoard event files (train and validation scalars, learning rate)
  RUN_DIR/backup/          keras.callbacks.BackupAndRestore state (weights + optimizer + epoch), deleted when
                           fit() completes; a new fit() on the same RUN_DIR resumes from the last finished epoch
  RUN_DIR/best.keras       the model with the best `monitor` value so far (.keras format)
  RUN_DIR/last.keras       the model after the last finished epoch
  RUN_DIR/history.json     {"epochs": [{"epoch", "seconds", <every logged metric>}, ...], "total_seconds",
                           "steps_per_epoch"}; epochs are 0-based, and a resumed run keeps the entries of the
                           epochs finished before the kill

Checkable properties (tests/test_training.py):
  * a run killed after epoch k and restarted with the same arguments ends with the same weights as an
    uninterrupted run (BackupAndRestore restores weights, optimizer state and the epoch counter);
  * under make_strategy("mirrored") with two devices, one step on a global batch gives the same weights as the
    default strategy on the same batch (the loss is averaged over the global batch);
  * piecewise_schedule(boundaries, values, steps_per_epoch) returns values[i] for epochs in
    [boundaries[i-1], boundaries[i]).
"""

import json
import os
import time

import keras
import tensorflow as tf

from sphembed.models.training_flags import STRATEGIES  # one list for the CLI (TF-free) and the code

__all__ = [
    "STRATEGIES",
    "make_strategy",
    "piecewise_schedule",
    "EpochHistory",
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


def standard_callbacks(run_dir, monitor="val_loss", mode="auto", steps_per_epoch=None):
    """The callbacks of every sphembed run: TensorBoard, best/last checkpoints, resume after a kill, history.

    Args:
      run_dir: directory of the run (created); layout in the module docstring.
      monitor: metric that selects RUN_DIR/best.keras (e.g. "val_loss", "val_accuracy"); must be logged by fit.
      mode: "auto", "min" or "max" for `monitor`.
      steps_per_epoch: recorded in history.json.

    Returns:
      list of keras.callbacks.Callback. EpochHistory writes an epoch before BackupAndRestore backs it up, so a
      kill between the two repeats that epoch and replaces its entry (no gap in history.json). The progress bar
      is Keras' own (fit(verbose=1)).
    """
    os.makedirs(run_dir, exist_ok=True)
    return [
        EpochHistory(os.path.join(run_dir, "history.json"), steps_per_epoch=steps_per_epoch),
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup")),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), update_freq="epoch"),
        keras.callbacks.ModelCheckpoint(os.path.join(run_dir, "best.keras"), monitor=monitor, mode=mode,
                                        save_best_only=True),
        keras.callbacks.ModelCheckpoint(os.path.join(run_dir, "last.keras")),
    ]


def fit_and_record(model, train_data, run_dir, epochs, validation_data=None, steps_per_epoch=None,
                   monitor="val_loss", mode="auto", callbacks=(), verbose=1):
    """model.fit with the standard callbacks of `run_dir`; resumes a killed run in the same directory.

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
    cbs = standard_callbacks(run_dir, monitor=monitor, mode=mode, steps_per_epoch=steps_per_epoch) + list(callbacks)
    model.fit(train_data, epochs=epochs, validation_data=validation_data, steps_per_epoch=steps_per_epoch,
              callbacks=cbs, shuffle=False, verbose=verbose)  # datasets shuffle themselves
    with open(os.path.join(run_dir, "history.json")) as fh:
        return json.load(fh)
