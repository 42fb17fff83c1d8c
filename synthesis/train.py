"""Training the `Synthesizer` (sphere map -> image) of novel-view synthesis (issue 7; paper appendix A.3).

G is trained with an L1 pixel loss to map the embedding of a view back to the view itself:
  source "predicted" (default, slightly better in the paper): inputs E(I) of a frozen EmbeddingNet trained on the
      synthesis endpoint (an earlier, higher-resolution spherical-CNN endpoint than for pose);
  source "targets": inputs are the spherical-CNN targets T = Phi(S(R M)) of the same example.
Novel views then come from G(Lambda_R E(I)) (`sphembed.synthesis.novel_view`).

When no EmbeddingNet is given, one is trained first on the synthesis endpoint (RUN_DIR/embedding, a train-embedding
run). The run directory follows `sphembed.models.train.run_dir` (stage "synthesis": the fit files of the
embed-then-synthesize model, synthesizer.keras = G alone, and run_info.json whose inputs name the embedding model and
the module, read by `synthesize`, `eval-synthesis` and `export-hub --model synthesis` through `load_synthesis_run`).
"""

import math
import os

import keras
import tensorflow as tf

from sphembed.data.records import make_dataset
from sphembed.data.splits import split_count
from sphembed.models.nets.encoder_decoder import Synthesizer
from sphembed.models.train.embedding import embedding_dataset, train_embedding
from sphembed.models.train.fit import fit_and_record, learning_rate_schedule, make_strategy
from sphembed.models.train.run_dir import finish_run, load_run, read_run_info

__all__ = ["train_synthesis", "load_synthesis_run"]

SOURCES = ("predicted", "targets")


def _image_dataset(data_dir, split, batch_size, shuffle, seed):
    ds = make_dataset(data_dir, split, batch_size=batch_size, shuffle=shuffle, seed=seed, features=("image",))
    steps = math.ceil(split_count(data_dir, split) / batch_size)  # known cardinality: a progress bar with a total
    return ds.map(lambda ex: (ex["image"], ex["image"])).apply(tf.data.experimental.assert_cardinality(steps))


def _target_image_dataset(data_dir, split, module, endpoint, batch_size, shuffle, seed):
    ds, _ = embedding_dataset(data_dir, split, module, endpoint, batch_size, shuffle=shuffle, seed=seed)
    return ds.map(lambda image, target: (target, image))


def train_synthesis(data_dir, module, run_dir, target_endpoint, embedding_model=None, source="predicted",
                    latent_dim=1024, base_filters=64, max_filters=256, epochs=10, batch_size=32, learning_rate=1e-3,
                    lr_boundaries=(), lr_decay=0.1, embedding_epochs=10, seed=0, strategy="default",
                    embedding_config=None, train_split="train", val_split="test", verbose=1):
    """Trains a Synthesizer; resumes a killed run in run_dir.

    Args:
      data_dir: dataset directory (`sphembed make-data`).
      module: spherical-CNN Hub module directory.
      run_dir: output directory (see the module docstring).
      target_endpoint: spherical-CNN endpoint of the embeddings (checked against `embedding_model`'s run info).
      embedding_model: path of a trained EmbeddingNet (.keras or train-embedding run directory) on
        `target_endpoint`; None trains one into RUN_DIR/embedding for `embedding_epochs` epochs.
      source: "predicted" or "targets" (module docstring).
      latent_dim, base_filters, max_filters: Synthesizer sizes.
      epochs, batch_size, learning_rate, lr_boundaries, lr_decay: Adam on the L1 loss, piecewise-constant rate
        (multiplied by lr_decay at each boundary epoch).
      embedding_epochs: epochs of the EmbeddingNet trained when none is given.
      seed: seed of weights and shuffling.
      strategy: tf.distribute strategy name.
      embedding_config: dict of train_embedding sizes/rates for the EmbeddingNet trained here (the preset's, see
        `sphembed.presets.stage_config`).
      train_split, val_split: dataset splits.
      verbose: Keras verbosity.

    Returns:
      (synthesizer, info): the trained Synthesizer and the run_info dict written to RUN_DIR/run_info.json (inputs:
      module, embedding_model; results: image_shape, embedding_shape, val_l1).

    Raises:
      ValueError: for an unknown source, or an embedding model trained on another endpoint.
    """
    config = {k: v for k, v in locals().items() if k not in ("data_dir", "module", "run_dir", "embedding_model",
                                                             "verbose")}
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if embedding_model is None:
        embedding_model = os.path.join(run_dir, "embedding")
        embedding = dict(embedding_config or {})
        embedding.update(target_endpoint=target_endpoint, epochs=embedding_epochs, seed=seed)
        if not read_run_info(embedding_model):  # not trained yet, or killed before the end (resumed)
            train_embedding(data_dir, module, embedding_model, strategy=strategy, verbose=verbose, **embedding)
    trained_on = read_run_info(embedding_model).get("config", {}).get("target_endpoint")
    if trained_on not in (None, target_endpoint):
        raise ValueError(f"embedding model {embedding_model!r} was trained on endpoint {trained_on!r}, not "
                         f"{target_endpoint!r}")
    keras.utils.set_random_seed(seed)
    strategy = make_strategy(strategy)
    steps = math.ceil(split_count(data_dir, train_split) / batch_size)
    with strategy.scope():
        E = load_run(embedding_model, stage="embedding")
        E.trainable = False
        image_shape = list(E.input_shape[1:])
        embedding_shape = list(E.output_shape[1:])
        G = Synthesizer(embedding_shape[0] // 2, embedding_shape[-1], image_shape[0], image_shape[-1],
                        latent_dim=latent_dim, base_filters=base_filters, max_filters=max_filters)
        if source == "predicted":
            images = keras.Input(image_shape, name="image")
            model = keras.Model(images, G(E(images, training=False)), name="embed_then_synthesize")
        else:
            model = G
        schedule = learning_rate_schedule(learning_rate, lr_boundaries, lr_decay, steps)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss=keras.losses.MeanAbsoluteError(name="l1"))
    if source == "predicted":
        train_ds = _image_dataset(data_dir, train_split, batch_size, True, seed)
        val_ds = _image_dataset(data_dir, val_split, batch_size, False, seed)
    else:
        train_ds = _target_image_dataset(data_dir, train_split, module, target_endpoint, batch_size, True, seed)
        val_ds = _target_image_dataset(data_dir, val_split, module, target_endpoint, batch_size, False, seed)
    history = fit_and_record(model, train_ds, run_dir, epochs, validation_data=val_ds, monitor="val_loss",
                             verbose=verbose)
    last = history["epochs"][-1] if history["epochs"] else {}
    info = finish_run(run_dir, "synthesis", G, history, data_dir, config,
                      inputs={"module": os.path.abspath(module), "embedding_model": os.path.abspath(embedding_model)},
                      results={"image_shape": image_shape, "embedding_shape": embedding_shape,
                               "val_l1": last.get("val_loss")},
                      replicas=strategy.num_replicas_in_sync)
    return G, info


def load_synthesis_run(path):
    """(EmbeddingNet, Synthesizer, info) of a train-synthesis run directory, or of its synthesizer.keras file: G is
    the run's model (`load_run`), E the embedding model its run_info.json names.

    Raises:
      ValueError: if path is not (in) a train-synthesis run directory, or a model file is missing.
    """
    info = read_run_info(path)
    if info.get("stage") != "synthesis":
        raise ValueError(f"{path!r} is not a train-synthesis run (no run_info.json of stage 'synthesis')")
    return load_run(info["inputs"]["embedding_model"], stage="embedding"), load_run(path, stage="synthesis"), info
