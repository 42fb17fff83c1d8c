"""Evaluating a trained embedding network: `evaluate_embedding`, the measure of `sphembed eval-embedding`.

On a held-out split: the validation area-weighted Huber loss and relative error against the targets, and the
learned equivariance: for pairs (a, b) of views of one held-out mesh (poses R_a, R_b), the equivariance error
||E(I_b) - Lambda_{R_ab} E(I_a)|| / ||Lambda_{R_ab} E(I_a)|| (`losses.equivariance_error`, the measure train-sphcnn
reports), R_ab = R_b R_a^T (spectral rotation; both sides projected to degrees l < b), over each category's pairs,
next to the same number for a randomly initialized network and for the targets themselves.
"""

import keras
import numpy as np
import tensorflow as tf

from sphembed.data.pairs import make_pairs, pair_rows
from sphembed.data.splits import load_split
from sphembed.models.losses import area_weighted_huber, equivariance_error, relative_error
from sphembed.models.nets.encoder_decoder import EmbeddingNet
from sphembed.models.nets.lifted import LiftedEmbeddingNet
from sphembed.models.sphere.harmonics import isht, sht
from sphembed.models.sphere.rotations import rotate_map
from sphembed.models.sphere.shapes import bandwidth_of
from sphembed.models.train.targets import target_dataset

__all__ = ["rotated_pairs", "evaluate_embedding"]


def _predict(model, x, batch_size):
    return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def rotated_pairs(maps, rotations, pairs, batch_size):
    """(P e_b, Lambda_{R_b R_a^T} e_a) for each pair: maps [n, 2b, 2b, C], pairs [P, 2] rows -> two [P, 2b, 2b, C]
    arrays (P: projection to degrees l < b, the band limit the exact rotation keeps; each map projected once)."""
    B = bandwidth_of(maps, "embeddings")
    projected = np.concatenate([isht(sht(tf.constant(maps[i:i + batch_size])), B).numpy()
                                for i in range(0, len(maps), batch_size)])
    expected = []
    for i in range(0, len(pairs), batch_size):
        a, b = pairs[i:i + batch_size, 0], pairs[i:i + batch_size, 1]
        R = np.einsum("nij,nkj->nik", rotations[b], rotations[a]).astype(np.float32)  # R_b R_a^T
        expected.append(rotate_map(tf.constant(maps[a]), R).numpy())
    return projected[pairs[:, 1]], np.concatenate(expected)


def evaluate_embedding(model, data_dir, module, endpoint, split="test", batch_size=32, seed=0, partners=3,
                       targets_from="view"):
    """Validation loss / relative error and learned equivariance (module docstring), per category and "all".

    Args:
      model: trained EmbeddingNet / LiftedEmbeddingNet (or any Keras model images -> [batch, 2b, 2b, C]).
      data_dir, module, endpoint: dataset, spherical-CNN module and endpoint the model was trained on.
      split: held-out split.
      batch_size: examples per call.
      seed: seed of the randomly initialized reference network and of the view pairs.
      partners: view pairs per view (pairs of views of the same mesh: `sphembed.data.pairs.make_pairs`, "IB").
      targets_from: the targets the model was trained on ("view" or "mesh", `target_dataset`).

    Returns:
      dict {"huber", "relative_error", "pairs", "equivariance": {category: {"trained", "random_init", "targets",
      "pairs"}}} (equivariance values are `equivariance_error`s ||P e_b - Lambda e_a|| / ||Lambda e_a|| over a
      category's pairs, the measure train-sphcnn reports for the spherical CNN; "targets": the targets' own error).
    """
    data = load_split(data_dir, "image", split, batch_size)
    target_ds, meta = target_dataset(data_dir, split, module, endpoint, targets_from)
    targets = np.stack([t.numpy() for t in target_ds])
    predicted = _predict(model, data["image"], batch_size)
    if predicted.shape != targets.shape:
        raise ValueError(f"model output {predicted.shape[1:]} differs from the {endpoint} targets {targets.shape[1:]}")
    keras.utils.set_random_seed(seed)
    config = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable", "dtype")}
    nets = (EmbeddingNet, LiftedEmbeddingNet)
    random_net = type(model)(**config) if isinstance(model, nets) else keras.models.clone_model(model)
    random_pred = _predict(random_net, data["image"], batch_size)
    rows = pair_rows(data["index"], make_pairs(data_dir, split=split, kind="IB", partners=partners, seed=seed))
    pairs = {name: rotated_pairs(maps, data["rotation"], rows, batch_size)
             for name, maps in (("trained", predicted), ("random_init", random_pred), ("targets", targets))}
    cats = data["category"][rows[:, 0]]
    per_category = {}
    for cat in sorted(set(cats)) + ["all"]:
        mask = np.ones(len(rows), bool) if cat == "all" else cats == cat
        per_category[str(cat)] = {name: equivariance_error(got[mask], expected[mask])
                                  for name, (got, expected) in pairs.items()}
        per_category[str(cat)]["pairs"] = int(mask.sum())
    huber = float(np.mean(area_weighted_huber(tf.constant(targets), tf.constant(predicted))))
    rel = float(np.mean(relative_error(targets, predicted)))
    return {"split": split, "endpoint": endpoint, "examples": int(len(targets)), "huber": huber,
            "relative_error": rel, "pairs": int(len(rows)), "equivariance": per_category}
