"""`BaselineModel`: the training-step contract the baselines share (PoseRegressor, KeypointNet): a keras.Model that
computes its own dict of scalar losses from a batch, minimizes its "loss" entry and tracks every named entry."""

import keras
import tensorflow as tf

__all__ = ["BaselineModel"]


class BaselineModel(keras.Model):
    """A keras.Model trained by its own `compute_losses(data, training) -> dict` of scalars (shared by the baselines).

    `fit` minimizes the "loss" entry; every entry named in METRICS is tracked as a running mean (shown by the
    progress bar, logged to TensorBoard and history.json, prefixed "val_" on validation data).
    """

    METRICS = ("loss",)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.METRICS}

    def compute_losses(self, data, training=False):
        raise NotImplementedError

    def _track(self, values):
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            values = self.compute_losses(data, training=True)
            # Per-replica mean loss; the optimizer sums gradients over replicas.
            scaled = values["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._track(values)

    def test_step(self, data):
        return self._track(self.compute_losses(data, training=False))

    @property
    def metrics(self):
        return list(self.trackers.values())
