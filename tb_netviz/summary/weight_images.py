"""Pictures of weights for TensorBoard's Images tab: a zero-centred diverging colour map.

Zero is near-white, negative weights blue, positive red, all on one scale per
layer and step (``diverging_scale``), so that tiles can be compared and the
sign is never lost. Kernels of a layer with 3 input channels can also be drawn
as RGB images (each output channel one colour picture, 0 drawn mid-grey).

Example:
    >>> import numpy as np
    >>> diverging_rgb(np.array([-1.0, 0.0, 1.0]), scale=1.0).tolist()
    [[33, 102, 172], [247, 247, 247], [178, 24, 43]]
"""

from __future__ import annotations

import math

import numpy as np

from tb_netviz.summary.images import NONFINITE_RGB

NEGATIVE = np.array([33, 102, 172], np.float64)
ZERO = np.array([247, 247, 247], np.float64)
POSITIVE = np.array([178, 24, 43], np.float64)
NON_FINITE = np.array(NONFINITE_RGB, np.uint8)  # the dashboard's NaN/Inf colour, as in feature maps
# A tile is drawn at least this many pixels on its shorter side (3x3 kernels are enlarged).
MIN_TILE_PIXELS = 12
_PAD = 1


def diverging_rgb(values: np.ndarray, scale: float) -> np.ndarray:
    """``values / scale`` in ``[-1, 1]`` as uint8 RGB (``values.shape + (3,)``); non-finite magenta."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    t = np.clip(np.where(finite, values, 0.0) / scale, -1.0, 1.0)[..., None]
    colour = np.where(t < 0, ZERO + (NEGATIVE - ZERO) * -t, ZERO + (POSITIVE - ZERO) * t)
    rgb = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
    rgb[~finite] = NON_FINITE
    return rgb


def kernel_grid_image(tiles: np.ndarray, scale: float) -> np.ndarray:
    """``[O, I, kh, kw]`` tiles as one RGB grid on mid-grey: a row per output channel, a column per
    input channel; kernels of one input channel fill a near-square grid row by row instead of one
    tall column (the dashboard's ``kernelGrid``).

    >>> kernel_grid_image(np.zeros((2, 3, 3, 3)), 1.0).shape
    (25, 38, 3)
    >>> kernel_grid_image(np.zeros((8, 1, 3, 3)), 1.0).shape  # 3 a row, 3 rows
    (38, 38, 3)
    """
    out_channels, in_channels, height, width = tiles.shape
    zoom = max(1, -(-MIN_TILE_PIXELS // max(1, min(height, width))))
    rgb = diverging_rgb(tiles, scale).repeat(zoom, axis=2).repeat(zoom, axis=3)
    slots = [(o, i) for o in range(out_channels) for i in range(in_channels)]
    rows, columns = out_channels, in_channels
    if in_channels == 1 and out_channels > 1:
        columns = math.ceil(math.sqrt(out_channels))
        rows = math.ceil(out_channels / columns)
        slots = [divmod(o, columns) for o in range(out_channels)]
    th, tw = height * zoom, width * zoom
    grid = np.full((rows * (th + _PAD) - _PAD, columns * (tw + _PAD) - _PAD, 3), 128, np.uint8)
    for kernel, (row, column) in zip(rgb.reshape(-1, th, tw, 3), slots, strict=True):
        top, left = row * (th + _PAD), column * (tw + _PAD)
        grid[top : top + th, left : left + tw] = kernel
    return grid


def rgb_kernels_image(tiles: np.ndarray) -> np.ndarray:
    """``[O, 3, kh, kw]`` kernels as a row of O colour pictures; one scale for the whole layer.

    A weight ``w`` becomes ``0.5 + w / (2 * max|w|)`` in each colour channel.

    >>> rgb_kernels_image(np.zeros((4, 3, 3, 3)))[0, 0].tolist()
    [128, 128, 128]
    """
    if tiles.ndim != 4 or tiles.shape[1] != 3:
        raise ValueError(f"RGB kernels need [out, 3, kh, kw] tiles, got shape {tiles.shape}")
    finite = np.where(np.isfinite(tiles), tiles, 0.0)
    top = float(np.abs(finite).max())
    scaled = 0.5 + finite / (2 * top) if top > 0 else np.full(finite.shape, 0.5)
    pictures = np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    count, height, width, _ = pictures.shape
    zoom = max(1, -(-MIN_TILE_PIXELS // max(1, min(height, width))))
    pictures = pictures.repeat(zoom, axis=1).repeat(zoom, axis=2)
    th, tw = height * zoom, width * zoom
    row = np.full((th, count * (tw + _PAD) - _PAD, 3), 255, np.uint8)
    for index in range(count):
        row[:, index * (tw + _PAD) : index * (tw + _PAD) + tw] = pictures[index]
    return row


def matrix_image(matrix: np.ndarray, scale: float) -> np.ndarray:
    """A ``[R, C]`` matrix as an RGB heatmap, each entry at least 2 pixels when the matrix is small.

    >>> matrix_image(np.eye(3), 1.0).shape
    (36, 36, 3)
    """
    rows, cols = matrix.shape
    zoom = max(1, min(MIN_TILE_PIXELS, 256 // max(rows, cols)))
    return diverging_rgb(matrix, scale).repeat(zoom, axis=0).repeat(zoom, axis=1)
