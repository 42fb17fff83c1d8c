"""Shared training utilities: strategies, LR schedule, resume after a kill, history/timing record."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from sphembed.models.train.fit import fit_and_record, learning_rate_schedule, make_strategy, piecewise_schedule


def _tiny_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


class _Kill(keras.callbacks.Callback):
    """Simulates a kill right after epoch `at` has finished (and been backed up)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt("simulated kill")


def test_piecewise_schedule_preset():
    schedule = piecewise_schedule([2, 3.5], [1e-2, 1e-3, 1e-4], steps_per_epoch=10)
    got = [float(schedule(step)) for step in (0, 19, 20, 21, 34, 35, 36, 1000)]
    # PiecewiseConstantDecay switches after the boundary step: step <= 20 -> first value.
    np.testing.assert_allclose(got, [1e-2, 1e-2, 1e-2, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4], rtol=1e-6)


@pytest.mark.parametrize("boundaries,values,steps", [([2], [1.0], 10), ([3, 2], [1, 2, 3], 10), ([1], [1, 2], 0)])
def test_piecewise_schedule_invalid(boundaries, values, steps):
    with pytest.raises(ValueError, match="values|boundaries|steps_per_epoch"):
        piecewise_schedule(boundaries, values, steps)


def test_make_strategy_invalid(monkeypatch):
    with pytest.raises(ValueError, match="strategy must be one of"):
        make_strategy("tpu-pod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multi-worker")
    assert make_strategy("default").num_replicas_in_sync == 1


def test_resume_after_kill_matches_uninterrupted(tmp_path):
    data = _data()
    full = _tiny_model(seed=1)
    fit_and_record(full, data, str(tmp_path / "full"), epochs=4, verbose=0)

    run = str(tmp_path / "killed")
    killed = _tiny_model(seed=1)
    with pytest.raises(KeyboardInterrupt):
        fit_and_record(killed, data, run, epochs=4, callbacks=[_Kill(at=1)], verbose=0)
    assert os.path.isdir(os.path.join(run, "backup"))
    # A new process would rebuild the model from scratch (here: other initial weights); the backup restores
    # weights, optimizer momentum and the epoch counter.
    resumed = _tiny_model(seed=99)
    record = fit_and_record(resumed, data, run, epochs=4, verbose=0)
    assert [e["epoch"] for e in record["epochs"]] == [0, 1, 2, 3]
    assert all(e["seconds"] > 0 and np.isfinite(e["loss"]) for e in record["epochs"])
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # same float32 ops in the same order
    assert not os.path.exists(os.path.join(run, "backup"))  # removed after a completed fit
    loaded = keras.saving.load_model(os.path.join(run, "last.keras"))
    for a, b in zip(loaded.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert os.path.exists(os.path.join(run, "best.keras")) and os.listdir(os.path.join(run, "logs"))


_MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from sphembed.models.train.fit import fit_and_record, make_strategy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")

    def run(strategy, run_dir):
        with strategy.scope():
            keras.utils.set_random_seed(3)
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                                      keras.layers.Dense(1)])
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        fit_and_record(model, data, run_dir, epochs=2, verbose=0)
        return model.get_weights()

    mirrored = make_strategy("mirrored")
    w_default = run(make_strategy("default"), sys.argv[1] + "/default")
    w_mirrored = run(mirrored, sys.argv[1] + "/mirrored")
    print(json.dumps({"replicas": mirrored.num_replicas_in_sync,
                      "max_diff": max(float(np.abs(a - b).max()) for a, b in zip(w_default, w_mirrored))}))
""")


def test_mirrored_two_cpus_matches_default(tmp_path):
    # Logical devices must be configured before TensorFlow initializes, hence a fresh process.
    out = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    # Two replicas each average 4 examples and the gradients are all-reduced: the same update as one device on
    # the batch of 8, up to float32 summation order (measured 0 to 1e-7).
    assert result["max_diff"] < 1e-5


def test_learning_rate_schedule_of_every_trainer():
    assert learning_rate_schedule(2e-3, [], 0.2, 10) == 2e-3  # no boundaries: the constant rate
    schedule = learning_rate_schedule(1e-2, [2, 3.5], 0.1, steps_per_epoch=10)
    expected = piecewise_schedule([2, 3.5], [1e-2, 1e-3, 1e-4], steps_per_epoch=10)
    for step in (0, 20, 21, 35, 36, 1000):
        assert float(schedule(step)) == float(expected(step))
