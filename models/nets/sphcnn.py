"""SphericalCNN: residual spherical CNN classifier of sphere maps, with named bottleneck endpoints (DESIGN.md §4).

Architecture (a Keras functional model, so it saves/loads in the .keras format and every tensor is reachable):

  inputs [batch, 2B, 2B, Cin]
  stem:   SphericalConv(stem_channels) -> SphericalBatchNormalization -> ReLU
  stage s = 0..S-1 (a SphericalAveragePool first when s > 0: bandwidth B / 2^s), blocks of stage s:
    block i (numbered 1.. over all stages), C = the stage's channels, C/4 = bottleneck channels:
      1x1 Conv2D reduce (C/4) -> BN -> ReLU -> SphericalConv (C/4) -> BN -> ReLU  == endpoint "block{i}"
      -> 1x1 Conv2D expand (C) -> BN, added to the shortcut (identity, or 1x1 Conv2D + BN when channels change)
      -> ReLU
  head:   SphericalGlobalAverage -> Dense(num_classes) = logits

Endpoints: endpoint "block{i}" is the output of layer "block{i}_bottleneck", float32 [batch, 2b, 2b, C/4] with b
the bandwidth of its stage; these are the bottleneck features used as embedding targets (4x fewer channels than
the block output). `endpoint_names(model)` lists them in order; `endpoint_model(model)` returns a model whose
output is the dict {name: map}.

Properties (tests/test_sphcnn.py): every linear layer commutes with rotate_map exactly for band-limited inputs;
the logits change by < 1% (relative) under random SO(3) rotations of the input (ReLU and pooling alias, so this
is approximate); endpoint maps rotate with the input.
"""

import keras
import tensorflow as tf

from sphembed.models.layers.spherical import (
    SphericalAveragePool,
    SphericalBatchNormalization,
    SphericalConv,
    SphericalGlobalAverage,
)
from sphembed.models.losses import equivariance_error
from sphembed.models.sphere.harmonics import isht, sht
from sphembed.models.sphere.rotations import rotate_map
from sphembed.models.sphere.shapes import bandwidth_of, check_bandwidth

__all__ = ["SphericalCNN", "endpoint_names", "endpoint_model", "equivariance_errors", "ENDPOINT_SUFFIX",
           "BOTTLENECK_RATIO"]

ENDPOINT_SUFFIX = "_bottleneck"
BOTTLENECK_RATIO = 4


def _degrees(B, degree_fraction):
    return max(1, min(B, int(round(degree_fraction * B))))


def _bn(name):
    return SphericalBatchNormalization(momentum=0.9, name=name)


def _block(x, index, channels, bandwidth, num_anchors, degree_fraction, weight_decay):
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    prefix = f"block{index}"
    mid = channels // BOTTLENECK_RATIO
    h = keras.layers.Conv2D(mid, 1, use_bias=False, kernel_regularizer=reg, name=f"{prefix}_reduce")(x)
    h = keras.layers.ReLU(name=f"{prefix}_reduce_relu")(_bn(f"{prefix}_reduce_bn")(h))
    h = SphericalConv(mid, num_anchors=num_anchors, L=_degrees(bandwidth, degree_fraction), use_bias=False,
                      kernel_regularizer=reg, name=f"{prefix}_sphconv")(h)
    h = keras.layers.ReLU(name=prefix + ENDPOINT_SUFFIX)(_bn(f"{prefix}_sphconv_bn")(h))
    h = keras.layers.Conv2D(channels, 1, use_bias=False, kernel_regularizer=reg, name=f"{prefix}_expand")(h)
    h = _bn(f"{prefix}_expand_bn")(h)
    shortcut = x
    if x.shape[-1] != channels:
        shortcut = keras.layers.Conv2D(channels, 1, use_bias=False, kernel_regularizer=reg,
                                       name=f"{prefix}_project")(x)
        shortcut = _bn(f"{prefix}_project_bn")(shortcut)
    return keras.layers.ReLU(name=f"{prefix}_out")(keras.layers.Add(name=f"{prefix}_add")([h, shortcut]))


def SphericalCNN(input_bandwidth, in_channels=2, num_classes=10, stem_channels=16,
                 stages=((64, 2), (128, 2), (256, 2), (256, 2)), num_anchors=4, degree_fraction=1.0,
                 weight_decay=0.0, name="sphcnn"):
    """Builds the residual spherical CNN (see the module docstring).

    Args:
      input_bandwidth: int B; inputs are [batch, 2B, 2B, in_channels].
      in_channels: int, input channels (2 for make-data sphere maps: hit radius, |cos| normal).
      num_classes: int, logits size.
      stem_channels: int, channels of the first spherical convolution.
      stages: sequence of (channels, num_blocks); stage s runs at bandwidth B / 2^s, so B must be divisible by
        2^(S-1). channels must be divisible by 4 (the bottleneck ratio).
      num_anchors: anchor degrees per filter of every SphericalConv.
      degree_fraction: float in (0, 1]; each SphericalConv uses L = round(degree_fraction * b) at bandwidth b.
      weight_decay: L2 factor on convolution and dense kernels (0 = none).
      name: model name.

    Returns:
      keras.Model: [batch, 2B, 2B, in_channels] float32 -> logits [batch, num_classes].

    Raises:
      ValueError: on a bandwidth that the stages cannot halve, channels not divisible by 4, or bad sizes.
    """
    check_bandwidth(input_bandwidth)
    if not stages:
        raise ValueError("stages must have at least one (channels, num_blocks) entry")
    if input_bandwidth % 2 ** (len(stages) - 1):
        raise ValueError(f"input_bandwidth={input_bandwidth} cannot be halved {len(stages) - 1} times "
                         f"for stages={list(stages)}")
    if any(int(c) % BOTTLENECK_RATIO or int(n) < 1 for c, n in stages):
        raise ValueError(f"stage channels must be divisible by {BOTTLENECK_RATIO} and blocks >= 1, got {list(stages)}")
    if not 0 < degree_fraction <= 1:
        raise ValueError(f"degree_fraction must be in (0, 1], got {degree_fraction}")
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    inputs = keras.Input((2 * input_bandwidth, 2 * input_bandwidth, in_channels), name="sphere")
    x = SphericalConv(stem_channels, num_anchors=num_anchors, L=_degrees(input_bandwidth, degree_fraction),
                      use_bias=False, kernel_regularizer=reg, name="stem_sphconv")(inputs)
    x = keras.layers.ReLU(name="stem_relu")(_bn("stem_bn")(x))
    bandwidth, index = input_bandwidth, 0
    for s, (channels, num_blocks) in enumerate(stages):
        if s > 0:
            x = SphericalAveragePool(name=f"pool{s}")(x)
            bandwidth //= 2
        for _ in range(int(num_blocks)):
            index += 1
            x = _block(x, index, int(channels), bandwidth, num_anchors, degree_fraction, weight_decay)
    x = SphericalGlobalAverage(name="global_average")(x)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=reg, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def endpoint_names(model):
    """Names of the bottleneck endpoints of a SphericalCNN, in network order: ["block1", "block2", ...]."""
    return [layer.name[: -len(ENDPOINT_SUFFIX)] for layer in model.layers if layer.name.endswith(ENDPOINT_SUFFIX)]


def endpoint_model(model, names=None, include_logits=False):
    """A model sharing `model`'s weights whose output is the dict of endpoint maps.

    Args:
      model: a SphericalCNN (built by `SphericalCNN` or loaded from .keras).
      names: endpoint names to output (default all, see `endpoint_names`).
      include_logits: also output "logits" [batch, num_classes].

    Returns:
      keras.Model: [batch, 2B, 2B, Cin] -> {name: float32 [batch, 2b, 2b, C]}.

    Raises:
      ValueError: if a name is not an endpoint of `model` (the message lists the available names).
    """
    available = endpoint_names(model)
    if not available:
        raise ValueError(f"model {model.name!r} has no layer named '*{ENDPOINT_SUFFIX}'; is it a SphericalCNN?")
    names = available if names is None else list(names)
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"unknown endpoint(s) {missing}; model {model.name!r} has {available}")
    outputs = {n: model.get_layer(n + ENDPOINT_SUFFIX).output for n in names}
    if include_logits:
        outputs["logits"] = model.output
    return keras.Model(model.input, outputs, name=f"{model.name}_endpoints")


def equivariance_errors(model, x, R, L=None):
    """Measured rotation equivariance of a SphericalCNN on band-limited versions of inputs x.

    x is projected to degrees l < L and rotated exactly (spectral rotate_map); then
      * "logits": ||logits(Lambda_R x) - logits(x)|| / ||logits(x)|| over the batch (invariance);
      * each endpoint e at bandwidth b: ||P e(Lambda_R x) - Lambda_R P e(x)|| / ||Lambda_R P e(x)|| over the batch,
        with P the projection onto degrees l < b (sht then isht; rotate_map includes it).

    Args:
      model: a SphericalCNN.
      x: float32 [batch, 2B, 2B, Cin].
      R: float32 [batch, 3, 3] rotations.
      L: degree band-limit of the projected inputs (default B // 2, a smooth map on the grid).

    Returns:
      dict {"logits": float, "block1": float, ...} of equivariance errors ||got - expected|| / ||expected||
      (`sphembed.models.losses.equivariance_error`; 0 for an output that is zero with and without the rotation).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    B = bandwidth_of(x, "x")
    x = isht(sht(x, L or max(1, B // 2), basis="real"), B, basis="real")
    x_rot = rotate_map(x, R)
    net = endpoint_model(model, include_logits=True)
    out, out_rot = net(x, training=False), net(x_rot, training=False)
    errors = {"logits": equivariance_error(out_rot["logits"], out["logits"])}
    for name in endpoint_names(model):
        b = bandwidth_of(out[name], name)
        expected = rotate_map(out[name], R)
        got = isht(sht(out_rot[name], basis="real"), b, basis="real")
        errors[name] = equivariance_error(got, expected)
    return errors
