"""The run-directory contract (`sphembed.models.train.run_dir`): one run_info.json format written by `finish_run`,
and one loader, `load_run`, for run directories, Keras files and SavedModel directories."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from sphembed.models.train.fit import fit_and_record, learning_rate_schedule
from sphembed.models.train.run_dir import STAGES, finish_run, load_run, read_run_info

KEYS = {"format", "stage", "model", "data_dir", "config", "inputs", "model_config", "training", "results"}


@pytest.fixture
def run(tmp_path):
    """A finished 2-epoch run directory of a tiny Keras model, stage "regression"."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(0.1, [1], 0.5, 4)), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, x[:, :2])).batch(4)
    run_dir = str(tmp_path / "run")
    history = fit_and_record(model, data, run_dir, 2, verbose=0)
    info = finish_run(run_dir, "regression", model, history, str(tmp_path), {"epochs": 2, "sizes": (3, 2)},
                      results={"image_shape": [3]})
    return run_dir, model, x, info


def test_finish_run_writes_one_format(run):
    run_dir, model, _, info = run
    with open(os.path.join(run_dir, "run_info.json")) as fh:
        assert json.load(fh) == info == read_run_info(run_dir) == read_run_info(os.path.join(run_dir, "best.keras"))
    assert set(info) == KEYS and info["stage"] == "regression" and info["model"] == STAGES["regression"]
    assert info["config"] == {"epochs": 2, "sizes": [3, 2]} and info["inputs"] == {}
    training = info["training"]
    assert training["epochs"] == 2 and training["steps_per_epoch"] == 4 and training["seconds"] > 0
    assert set(training["last_epoch"]) >= {"epoch", "loss"} and info["model_config"] == json.loads(
        json.dumps(model.get_config()))
    assert not [n for n in os.listdir(run_dir) if ".tmp" in n]  # written atomically


def test_load_run_opens_runs_files_and_savedmodels(run, tmp_path):
    run_dir, model, x, _ = run
    expected = model(x).numpy()
    for path in (run_dir, os.path.join(run_dir, "regression.keras"), os.path.join(run_dir, "last.keras")):
        np.testing.assert_allclose(load_run(path)(x).numpy(), expected, atol=1e-6)
    load_run(run_dir, stage="regression")
    with pytest.raises(ValueError, match="is a regression run, not a embedding run"):
        load_run(run_dir, stage="embedding")
    saved = str(tmp_path / "saved")
    tf.saved_model.save(tf.Module(), saved)
    assert hasattr(load_run(saved), "signatures") and not isinstance(load_run(saved), keras.Model)
    legacy = tmp_path / "legacy"  # a run directory of a version before run_info.json
    legacy.mkdir()
    model.save(str(legacy / "regression.keras"))
    np.testing.assert_allclose(load_run(str(legacy), stage="regression")(x).numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="no embedding model in"):
        load_run(str(legacy), stage="embedding")
    with pytest.raises(ValueError, match="no model at"):
        load_run(str(tmp_path / "missing.keras"))
    assert read_run_info(str(tmp_path / "missing.keras")) == {}
