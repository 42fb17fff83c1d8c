"""Compiled functions cached per (function, input shapes, dtype, options): no tracing or table building per call.

The public pose functions (`so3_correlation`, `align`, `relative_pose`) check their arguments in Python, then call
`call_cached(impl, tensors, **options)`: the first call with a new key traces `impl` (building its tables as
constants) and, with `jit_compile=True`, XLA compiles it once per concrete batch size; later calls with the same key
only run it. Keys hold TensorSpecs with the batch dimension left free (`batch_spec`), so one function serves every
batch size and also works inside a caller's `tf.function` (symbolic batch). Eager calls pad the batch to a bucket
(`batch_bucket`: 1, 2, 4, ..., 64, then multiples of 64) by repeating the first example and drop the padding from the
outputs, so a loop over batches of varying size compiles a few shapes, not one per size (impl must treat the examples
of a batch independently).
"""

import functools

import tensorflow as tf

__all__ = ["batch_spec", "batch_bucket", "cached_function", "call_cached", "trace_count"]


def batch_spec(x):
    """TensorSpec of tensor x with a free leading (batch) dimension: [None, *x.shape[1:]], x.dtype."""
    return tf.TensorSpec([None, *x.shape[1:]], x.dtype)


def batch_bucket(batch):
    """The batch size an eager call of `call_cached` runs at: the next power of two up to 64, then of 64."""
    return 1 << max(batch - 1, 0).bit_length() if batch <= 64 else -(-batch // 64) * 64


def call_cached(impl, tensors, tables=None, jit_compile=True, **options):
    """impl(*tensors[, tables], **options) through `cached_function`, each tensor with a free batch dimension.

    Args:
      impl: as in `cached_function`.
      tensors: list of Tensors, batch first.
      tables: optional nested structure of Tensors passed as the last argument with their full static shapes (a
        table built by the caller); None to let impl build its own (constants, at trace time).
      jit_compile, **options: as in `cached_function`.

    Returns:
      impl's outputs.
    """
    specs = [batch_spec(x) for x in tensors]
    args = list(tensors)
    if tables is not None:
        tables = tf.nest.map_structure(tf.convert_to_tensor, tables)
        specs.append(tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), tables))
        args.append(tables)
    function = cached_function(impl, specs, jit_compile, **options)
    batch = tensors[0].shape[0]
    if batch is None or batch == 0 or batch_bucket(batch) == batch or not tf.executing_eagerly():
        return function(*args)
    pad = batch_bucket(batch) - batch
    args[:len(tensors)] = [tf.concat([x, tf.repeat(x[:1], pad, axis=0)], axis=0) for x in tensors]
    return tf.nest.map_structure(lambda y: y[:batch], function(*args))


def cached_function(impl, specs, jit_compile=True, **options):
    """`tf.function(functools.partial(impl, **options))` with input signature `specs`, built once per key.

    Args:
      impl: a module-level function of tensors (positional, matching `specs`) and hashable keyword options.
      specs: sequence of (nested structures of) tf.TensorSpec.
      jit_compile: compile with XLA.
      **options: hashable keyword arguments of `impl` (ints, floats, strings, bools, tuples), part of the key.

    Returns:
      The cached tf.function.
    """
    specs = list(specs)
    # Nested structures (dicts of tables) are not hashable: the key is their flat specs plus the structure.
    structure = str(tf.nest.map_structure(lambda _: 0, specs))
    key = (impl, tuple(tf.nest.flatten(specs)), structure, bool(jit_compile), tuple(sorted(options.items())))
    if key not in _CACHE:
        # autograph=False: the implementations have no data-dependent Python control flow.
        _CACHE[key] = tf.function(functools.partial(impl, **options), input_signature=specs,
                                  jit_compile=bool(jit_compile), autograph=False)
    return _CACHE[key]


_CACHE = {}


def trace_count():
    """Traces of all cached functions so far (a call with a key seen before adds none)."""
    return sum(function.experimental_get_tracing_count() for function in _CACHE.values())
