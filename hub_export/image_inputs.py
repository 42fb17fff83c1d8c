"""Images as users send them, converted inside the graph: the serving signatures of the image modules.

The pose, embedding and synthesis SavedModels serve each signature twice, with the same outputs:

  <name> (e.g. serving_default)        float32 images [batch, H, W, 1 or 3], values in [0, 1]
  <name>_uint8 (serving_default ->     uint8 images [batch, H, W, 1 or 3], values 0-255
    serving_uint8, embed -> embed_uint8)

`serving_images(images, image_shape, name)` turns either into what the networks were trained on, float32
[batch, H', W', c'] in [0, 1] (the make-data images):
  1. uint8 / 255; float values must be finite and in [0, 1];
  2. channels: RGB -> gray with the ITU-R BT.601 luma weights (0.299, 0.587, 0.114) when the network takes gray
     images (make-data's gray views are renders of a gray material under a white light: R = G = B, which any weights
     summing to 1 map to the same gray), gray -> RGB by repetition when it takes RGB;
  3. size: images of another H x W are resized to fit H' x W' keeping their aspect ratio and padded with 0, the
     renders' black background (`tf.image.resize_with_pad`, area interpolation: a pixel is the mean of what it
     covers, as in the renders' multisampling; an image upsampled by an integer factor comes back exactly); images
     of the trained size pass unchanged.
Bad values raise tf.errors.InvalidArgumentError (graph-side tf.debugging asserts) naming the input and the expected
range: 1 or 3 channels, H, W >= 1, finite floats in [0, 1] (a 0-255 float image is refused, not rescaled), uint8
images brighter than 1 somewhere (a float image in [0, 1] given to a uint8 signature arrives as 0 / 1, since
TensorFlow casts numpy arrays to the signature's dtype), and for multi-image signatures equal batch sizes. The rank
is part of the signature: a [H, W, c] image fails argument binding (TypeError) before the graph runs.
"""

import keras
import tensorflow as tf

from sphembed.hub_export.reusable import export_reusable

__all__ = ["LUMA_WEIGHTS", "serving_images", "image_signatures", "export_image_module"]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 (tf.image.rgb_to_grayscale rounds to 0.2989: sum 0.9999)


def _uint8_name(name):
    """The uint8 twin of a signature name: serving_default -> serving_uint8, embed -> embed_uint8."""
    return ("serving" if name == "serving_default" else name) + "_uint8"


def serving_images(images, image_shape, name="images"):
    """uint8 or float32 [batch, H, W, 1 or 3] images of any size -> float32 [batch, *image_shape] in [0, 1].

    Args:
      images: uint8 (0-255) or float32 (in [0, 1]) tensor [batch, H, W, 1 or 3]; H, W >= 1.
      image_shape: (H', W', c') the network takes; c' is 1 (gray) or 3 (RGB).
      name: the input's name in error messages (e.g. "image_a").

    Returns:
      float32 [batch, H', W', c'], converted as in the module docstring.

    Raises:
      ValueError: (when tracing) another dtype or a static rank other than 4, or image_shape without 1 or 3
        channels.
      tf.errors.InvalidArgumentError: (when running) another channel count, an empty image, non-finite float
        values or float values outside [0, 1]; the message names the input.
    """
    with tf.name_scope(f"serving_{name}"):
        x = tf.convert_to_tensor(images)
        H, W, c = (int(d) for d in image_shape)
        if c not in (1, 3):
            raise ValueError(f"image_shape must end with 1 (gray) or 3 (RGB) channels, got {tuple(image_shape)}")
        if x.dtype not in (tf.uint8, tf.float32):
            raise ValueError(f"{name}: images must be uint8 (0-255) or float32 (in [0, 1]), got {x.dtype.name}")
        if x.shape.rank is not None and x.shape.rank != 4:
            raise ValueError(f"{name}: images must have shape [batch, H, W, 1 or 3], got {x.shape}")
        shape = tf.shape(x)
        checks = [
            tf.debugging.Assert(tf.logical_or(shape[3] == 1, shape[3] == 3), [tf.strings.format(
                f"{name}: images must have 1 (gray) or 3 (RGB) channels, shape [batch, H, W, 1 or 3]; got shape {{}}",
                shape)]),
            tf.debugging.Assert(tf.logical_and(shape[1] > 0, shape[2] > 0), [tf.strings.format(
                f"{name}: images must be at least 1 x 1 pixels; got shape {{}}", shape)]),
        ]
        if x.dtype == tf.uint8:  # TensorFlow casts a numpy float image in [0, 1] given to a uint8 signature to 0 / 1
            with tf.control_dependencies(checks):
                brightest = tf.reduce_min(tf.reduce_max(x, axis=[1, 2, 3]))
                checks.append(tf.debugging.Assert(tf.reduce_all(tf.reduce_max(x, axis=[1, 2, 3]) > 1), [
                    tf.strings.format(f"{name}: uint8 images must use 0-255; got an image whose maximum is {{}} (a "
                                      "float image in [0, 1] cast to uint8? send float32 images to serving_default / "
                                      "embed)", brightest)]))
        if x.dtype == tf.float32:
            checks.append(tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(x)), [
                f"{name}: values must be finite (float32 images in [0, 1]); got NaN or inf"]))
            with tf.control_dependencies(checks):  # range message after the finiteness one
                checks.append(tf.debugging.Assert(tf.reduce_all((x >= 0) & (x <= 1)), [tf.strings.format(
                    f"{name}: float32 values must be in [0, 1] (for 0-255 images send uint8 to serving_uint8 / "
                    f"embed_uint8, or divide by 255); got min {{}}, max {{}}", (tf.reduce_min(x), tf.reduce_max(x)))]))
        with tf.control_dependencies(checks):
            x = tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.identity(x)
        if c == 1:
            x = tf.cond(shape[3] == 3, lambda: tf.reduce_sum(x * tf.constant(LUMA_WEIGHTS), -1, keepdims=True),
                        lambda: x)
        else:
            x = tf.cond(shape[3] == 1, lambda: tf.tile(x, [1, 1, 1, 3]), lambda: x)
        x.set_shape([None, None, None, c])
        same = tf.logical_and(shape[1] == H, shape[2] == W)
        x = tf.cond(same, lambda: x, lambda: tf.image.resize_with_pad(x, H, W, method="area"))
        return tf.ensure_shape(x, [None, H, W, c])


def image_signatures(name, fn, image_shape, images, others=None):
    """The float32 and uint8 serving signatures of `fn` (see the module docstring).

    Args:
      name: the float32 signature's name ("serving_default", "embed", ...); the uint8 one is `_uint8_name(name)`.
      fn: callable taking the inputs as keyword arguments, images float32 [batch, *image_shape] in [0, 1], and
        returning a dict of tensors.
      image_shape: (H, W, c) the network takes.
      images: names of the image inputs, e.g. ("image_a", "image_b"); all must have one batch size.
      others: optional {name: tf.TensorSpec} of further inputs, passed through (e.g. rotation [None, 3, 3]).

    Returns:
      {name: tf.function, _uint8_name(name): tf.function}, each with an input_signature: images
      [None, None, None, None] of its dtype, then `others`.
    """
    others = dict(others or {})
    names = list(images) + list(others)

    def signature(dtype):
        specs = [tf.TensorSpec([None, None, None, None], dtype, name=n) for n in images]
        specs += [tf.TensorSpec(spec.shape, spec.dtype, name=n) for n, spec in others.items()]

        def serve(*args):
            inputs = dict(zip(names, args))
            sizes = [tf.shape(inputs[n])[0] for n in images]
            checks = [tf.debugging.Assert(tf.equal(sizes[0], size), [tf.strings.format(
                f"{images[0]} and {n} must have the same batch size; got {{}} and {{}}", (sizes[0], size))])
                for n, size in zip(images[1:], sizes[1:])]
            with tf.control_dependencies(checks):
                inputs.update({n: serving_images(inputs[n], image_shape, n) for n in images})
            return fn(**inputs)

        return tf.function(serve, input_signature=specs, autograph=False)

    return {name: signature(tf.float32), _uint8_name(name): signature(tf.uint8)}


def export_image_module(path, model, output):
    """Writes a Keras image model as a reusable SavedModel with image serving signatures.

    Args:
      path: output directory.
      model: keras.Model, float32 images [batch, H, W, c] in [0, 1] -> one tensor (e.g. an EmbeddingNet).
      output: the output's name (e.g. "embedding").

    Returns:
      path. The module (`sphembed.hub_export.reusable`): `__call__(inputs, training=False)` with float32
      [batch, H, W, c] at the trained size -> {output: ...}; `serving_default(inputs)` float32 and
      `serving_uint8(inputs)` uint8 images [batch, any H, any W, 1 or 3] -> {output: ...} (`image_signatures`).
    """
    shape = tuple(model.input_shape[1:])
    images = keras.Input(shape, name="image")
    wrapper = keras.Model(images, {output: model(images)}, name=f"{output}_module")
    serving = image_signatures("serving_default", lambda inputs: wrapper(inputs, training=False), shape, ("inputs",))
    return export_reusable(path, wrapper, tf.TensorSpec([None, *shape], tf.float32), serving=serving)
