"""Registry of relative-pose methods evaluated by `sphembed eval-pose`.

A method maps two batches of inputs (views a and b of the same pairs) to estimated relative poses
R_ab = R_b R_a^T, float [batch, 3, 3]. It is built by a factory registered under a name, together with the dataset
feature it consumes ("image" for image-based methods, "sphere" for the ray-cast sphere maps):

    @register_method("regression", feature="image")
    def make_regression(model=None, out_bandwidth=None, refine=True):
        net = ...load model...
        return lambda images_a, images_b: ...  # [batch, 3, 3]

Factories take `model` (a path or None) and the keyword options the command passes (`out_bandwidth`, `refine`);
they may ignore options they do not use. Plug-ins: modules listed in METHOD_MODULES (or passed with
`eval-pose --plugin MODULE`) are imported by `load_method_modules` and register their methods on import.
Built in: "embedding" (embed both images, align the embeddings), "oracle-sphere" (align the ground-truth sphere
maps of the two views: an upper bound for the correlation step, not a learned method), "oracle-target" (align the
spherical-CNN targets Phi(S) of the two views' sphere maps at one endpoint, `--model HUB_DIR#ENDPOINT`: what an
embedding that regressed its targets exactly would score; no image is used), and the baselines of the
paper's Table 2, "regression" and "keypointnet" (a train-regression / train-keypointnet run or .keras file, loaded
by `sphembed.models.train.run_dir.load_run`).
This module does not import TensorFlow at import time.
"""

import importlib

__all__ = ["METHOD_MODULES", "FEATURES", "register_method", "get_method", "available_methods",
           "load_method_modules", "traced_method"]

# Modules that register more methods when imported (none built in: every built-in method is defined here).
METHOD_MODULES = ()
FEATURES = ("image", "sphere")
_REGISTRY = {}


def register_method(name, feature="image"):
    """Decorator registering `factory(model=None, **options) -> method` under `name`.

    Raises:
      ValueError: if the name is taken or the feature is not one of FEATURES.
    """
    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {FEATURES}, got {feature!r}")

    def decorator(factory):
        if name in _REGISTRY and _REGISTRY[name][0] is not factory:
            raise ValueError(f"pose method {name!r} is already registered")
        _REGISTRY[name] = (factory, feature)
        return factory

    return decorator


def load_method_modules(extra=()):
    """Imports METHOD_MODULES and `extra` module names (plug-ins register their methods on import)."""
    for module in tuple(METHOD_MODULES) + tuple(extra):
        importlib.import_module(module)


def available_methods():
    """Sorted names of the registered methods."""
    return sorted(_REGISTRY)


def get_method(name, model=None, **options):
    """Builds the method `name`: returns (method, feature).

    Raises:
      ValueError: for an unknown name (listing the registered ones).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown pose method {name!r}; registered: {available_methods()}")
    factory, feature = _REGISTRY[name]
    return factory(model=model, **options), feature


def traced_method(fn):
    """fn (inputs_a, inputs_b) -> R_ab as a tf.function for eval-pose: one trace per batch shape (`estimate_pairs`
    pads the last batch), no retracing for other values, autograph off (no data-dependent Python control flow, and
    converting a pose graph costs seconds); an eager Keras call costs ~0.1 s, a traced one milliseconds."""
    import tensorflow as tf

    return tf.function(fn, reduce_retracing=True, autograph=False)


@register_method("embedding", feature="image")
def _make_embedding(model=None, out_bandwidth=None, refine=True):
    """Embedding-based relative pose (the paper's method): R_ab = align(E(I_b), E(I_a))."""
    if model is None:
        raise ValueError("method 'embedding' needs --model (a .keras file or a SavedModel / Hub directory)")
    from sphembed.pose.relative import load_model, relative_pose

    net = load_model(model) if isinstance(model, str) else model
    return traced_method(lambda images_a, images_b: relative_pose(images_a, images_b, net, out_bandwidth, refine))


@register_method("oracle-sphere", feature="sphere")
def _make_oracle_sphere(model=None, out_bandwidth=None, refine=True):
    """Aligns the ground-truth sphere maps of the views: R_ab = align(S_b, S_a) (no model)."""
    from sphembed.pose.alignment import align

    return traced_method(lambda spheres_a, spheres_b: align(spheres_b, spheres_a, out_bandwidth, refine)[0])


@register_method("oracle-target", feature="sphere")
def _make_oracle_target(model=None, out_bandwidth=None, refine=True):
    """Aligns the spherical-CNN targets of the views' sphere maps: R_ab = align(Phi(S_b), Phi(S_a)); model
    "HUB_DIR#ENDPOINT" (a `sphembed export-hub --model sphcnn` module and one of its endpoints)."""
    path, _, endpoint = (model or "").rpartition("#")
    if not path or not endpoint:
        raise ValueError("method 'oracle-target' needs --model HUB_DIR#ENDPOINT (a spherical-CNN module written by "
                         f"`sphembed export-hub --model sphcnn` and one of its endpoints, e.g. runs/demo/sphcnn/hub#block3)"
                         f", got {model!r}")
    from sphembed.models.train.targets import endpoint_targets
    from sphembed.pose.alignment import align

    targets = endpoint_targets(path, endpoint)
    return traced_method(lambda spheres_a, spheres_b: align(targets(spheres_b), targets(spheres_a), out_bandwidth,
                                                            refine)[0])


def _baseline_method(name, model):
    if model is None:
        raise ValueError(f"method {name!r} needs --model (a .keras file or a train-{name} run directory)")
    from sphembed.models.train.run_dir import load_run

    net = load_run(model, stage=name) if isinstance(model, str) else model
    return traced_method(net.relative_pose)


@register_method("regression", feature="image")
def _make_regression(model=None, out_bandwidth=None, refine=True):
    """Pose regression: R̂_ab = R̂_b R̂_aᵀ from the regressed orientations (correlation options unused)."""
    return _baseline_method("regression", model)


@register_method("keypointnet", feature="image")
def _make_keypointnet(model=None, out_bandwidth=None, refine=True):
    """KeypointNet: Procrustes rotation of the two views' keypoints (correlation options unused)."""
    return _baseline_method("keypointnet", model)
