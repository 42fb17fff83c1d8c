"""Image grids (PNG) and animations (GIF) of novel views, written with pillow.

Images are float [..., H, W, c] in [0, 1] (c = 1 gray or 3 RGB); values outside [0, 1] are clipped. A grid of
rows x cols images of H x W with `pad` pixels of white between and around them is
[rows (H + pad) + pad, cols (W + pad) + pad, c] (checked in tests/test_synthesis.py).
"""

import os

import numpy as np
from PIL import Image

__all__ = ["to_uint8", "image_grid", "save_png", "save_gif"]


def to_uint8(images):
    """float images in [0, 1] -> uint8 (clipped, rounded); same shape."""
    return np.round(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255).astype(np.uint8)


def image_grid(images, pad=2):
    """Tiles images [rows, cols, H, W, c] into one uint8 image [rows (H + pad) + pad, cols (W + pad) + pad, c].

    Raises:
      ValueError: if images is not 5-D.
    """
    images = to_uint8(images)
    if images.ndim != 5:
        raise ValueError(f"images must have shape [rows, cols, H, W, c], got {images.shape}")
    rows, cols, H, W, c = images.shape
    grid = np.full((rows * (H + pad) + pad, cols * (W + pad) + pad, c), 255, np.uint8)
    for r in range(rows):
        for k in range(cols):
            grid[pad + r * (H + pad):(r + 1) * (H + pad), pad + k * (W + pad):(k + 1) * (W + pad)] = images[r, k]
    return grid


def _pil(image):
    image = np.asarray(image)
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def save_png(image, path):
    """Writes one uint8 (or float in [0, 1]) image [H, W, c] as PNG; creates the parent directory. Returns path."""
    image = np.asarray(image)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _pil(image if image.dtype == np.uint8 else to_uint8(image)).save(path)
    return path


def save_gif(frames, path, duration_ms=80, scale=1):
    """Writes frames [n, H, W, c] (float in [0, 1] or uint8) as a looping animated GIF. Returns path.

    Args:
      frames: [n, H, W, c].
      path: output file.
      duration_ms: display time of each frame.
      scale: integer nearest-neighbour upscaling (small renders are easier to look at enlarged).
    """
    frames = np.asarray(frames)
    frames = frames if frames.dtype == np.uint8 else to_uint8(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must have shape [n, H, W, c], got {frames.shape}")
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    images = [_pil(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return path
