"""The run-directory contract: what every training run leaves behind, and the one loader of trained models.

Every training command (train-sphcnn, train-embedding, train-regression, train-keypointnet, train-synthesis) writes
one run directory, `--run-dir RUN_DIR`, holding:

  RUN_DIR/run_info.json    what was trained, from what, how, and how well (below); written last and atomically, so
                           a run directory with run_info.json is a finished run
  RUN_DIR/<model file>     the final model (.keras): sphcnn.keras, embedding.keras, regression.keras,
                           keypointnet.keras or synthesizer.keras (STAGES)
  RUN_DIR/best.keras, last.keras, history.json, logs/, backup/
                           the fit files of `sphembed.models.train.fit` (best/last checkpoints, per-epoch history,
                           TensorBoard logs, the resume backup of a killed run)
  RUN_DIR/embedding/       train-synthesis only: the EmbeddingNet run it trains when none is given (a run directory)

run_info.json has the same keys for every stage:

  {"format": 1,
   "stage": "sphcnn" | "embedding" | "regression" | "keypointnet" | "synthesis",
   "model": file name of the final model inside RUN_DIR,
   "data_dir": absolute path of the dataset (`sphembed make-data`) it was trained on,
   "config": the trainer's settings (the keywords of train_<stage>: sizes, schedule, seed, strategy, ...),
   "inputs": what the run was trained from, besides the data ({} for none): embedding {"module", "module_sha256"},
             synthesis {"module", "embedding_model"} (absolute paths),
   "model_config": the model's get_config(),
   "training": {"epochs": epochs trained, "steps_per_epoch", "seconds": fit wall-clock seconds (history.json),
                "replicas": devices of the distribution strategy, "last_epoch": the last epoch's logged metrics},
   "results": the stage's own measurements:
     sphcnn       categories, train_accuracy_rotated, test_accuracy_rotated, parameters, seconds_per_epoch,
                  equivariance_error ({endpoint: error}), evaluated
     embedding    image_shape, target_shape, channel_scale, val_loss, val_huber, val_relative_error
     regression   image_shape
     keypointnet  image_shape, pairs
     synthesis    image_shape, embedding_shape, val_l1}

`load_run(path)` opens a run directory (the model named by its run_info.json; in a directory of an older version,
without run_info.json, its <stage>.keras), a .keras / .h5 file or a SavedModel / TF-Hub module directory
(saved_model.pb); `read_run_info(path)` reads the run_info.json of a run
directory or of the run directory a model file lies in. The model classes of every stage are imported here, so
Keras can deserialize any of them.
"""

import json
import os

import keras
import tensorflow as tf

import sphembed.models.baselines.keypointnet  # noqa: F401  (model classes registered for deserialization)
import sphembed.models.baselines.pose_regressor  # noqa: F401
import sphembed.models.nets.encoder_decoder  # noqa: F401
import sphembed.models.nets.lifted  # noqa: F401
import sphembed.models.nets.sphcnn  # noqa: F401
from sphembed.data.manifest import write_json

__all__ = ["RUN_INFO", "FORMAT", "STAGES", "finish_run", "read_run_info", "load_run"]

RUN_INFO = "run_info.json"
FORMAT = 1
# stage -> the final model's file name in its run directory.
STAGES = {"sphcnn": "sphcnn.keras", "embedding": "embedding.keras", "regression": "regression.keras",
          "keypointnet": "keypointnet.keras", "synthesis": "synthesizer.keras"}


def finish_run(run_dir, stage, model, history, data_dir, config, inputs=None, results=None, replicas=1):
    """Saves the final model as RUN_DIR/<STAGES[stage]> and writes RUN_DIR/run_info.json (module docstring).

    Args:
      run_dir: the run directory.
      stage: a key of STAGES.
      model: the keras.Model to save.
      history: what `fit_and_record` returned (epochs, total_seconds, steps_per_epoch).
      data_dir: dataset directory.
      config: the trainer's settings (JSON-able; other values are written as strings).
      inputs: upstream paths and hashes; results: the stage's measurements.
      replicas: devices of the distribution strategy.

    Returns:
      the run_info dict as written.
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {sorted(STAGES)}, got {stage!r}")
    model.save(os.path.join(run_dir, STAGES[stage]))
    epochs = history["epochs"]
    info = {"format": FORMAT, "stage": stage, "model": STAGES[stage], "data_dir": os.path.abspath(data_dir),
            "config": config, "inputs": inputs or {}, "model_config": model.get_config(),
            "training": {"epochs": len(epochs), "steps_per_epoch": history.get("steps_per_epoch"),
                         "seconds": history.get("total_seconds"), "replicas": int(replicas),
                         "last_epoch": epochs[-1] if epochs else {}},
            "results": results or {}}
    info = json.loads(json.dumps(info, default=str))  # tuples -> lists, anything else JSON lacks -> str
    write_json(os.path.join(run_dir, RUN_INFO), info, indent=2)
    return info


def read_run_info(path):
    """The run_info.json of a run directory, or of the run directory a model file lies in ({} when there is none)."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    info_path = os.path.join(folder, RUN_INFO)
    if not os.path.isfile(info_path):
        return {}
    with open(info_path) as fh:
        return json.load(fh)


def load_run(path, stage=None):
    """A trained model: the final model of a run directory, a .keras / .h5 file, or a SavedModel / Hub directory.

    Args:
      path: a run directory (module docstring), a Keras model file, or a directory with saved_model.pb.
      stage: when given, a run directory (or a model file inside one) must be a run of this stage.

    Returns:
      keras.Model (not compiled) for Keras files and runs; the loaded SavedModel (tf.saved_model.load, as
      tensorflow_hub.load does for a local module) for SavedModel directories.

    Raises:
      ValueError: if path is none of these, or a run of another stage.
    """
    path = os.fspath(path)
    what = f"{stage} model" if stage else "model"
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
        return tf.saved_model.load(path)
    info = read_run_info(path)
    if stage is not None and info and info.get("stage") != stage:
        raise ValueError(f"{path!r} is a {info.get('stage')} run, not a {stage} run")
    if os.path.isdir(path):
        if info:
            name = info["model"]
        else:  # a run directory written before run_info.json: the stage's model file
            found = [n for n in ([STAGES[stage]] if stage else sorted(set(STAGES.values())))
                     if os.path.isfile(os.path.join(path, n))]
            if len(found) != 1:
                raise ValueError(f"no {what} in {path!r}: neither a run directory ({RUN_INFO}) nor a SavedModel "
                                 "directory (saved_model.pb)")
            name = found[0]
        path = os.path.join(path, name)
    if not (os.path.isfile(path) and path.endswith((".keras", ".h5"))):
        raise ValueError(f"no {what} at {path!r}: give a run directory, a .keras / .h5 file or a SavedModel "
                         "directory")
    return keras.saving.load_model(path, compile=False)
