"""Feature-map grids and PNG encoding, without PIL.

Example:
    >>> import numpy as np
    >>> grid = feature_map_grid(np.random.rand(6, 5, 5), max_channels=4)
    >>> grid.dtype, grid.ndim
    (dtype('uint8'), 2)
    >>> encode_png(grid)[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

_PAD = 1
_CONV1D_ROW_HEIGHT = 4


def feature_map_grid(maps: np.ndarray, max_channels: int = 16) -> np.ndarray:
    """One sample's feature maps as a uint8 grid image, each channel normalised on its own.

    ``maps`` is ``[C, L]`` (Conv1d: each channel becomes a horizontal strip),
    ``[C, H, W]`` (Conv2d) or ``[C, D, H, W]`` (Conv3d: the middle depth slice).
    The first ``max_channels`` channels are tiled in a near-square grid with a
    one-pixel separator. Non-finite entries are drawn black; a constant channel is mid-grey.

    Raises:
        TypeError: a non-numeric array, or max_channels not an int.
        ValueError: wrong number of dimensions, an empty axis, or max_channels < 1.
    """
    maps = check_feature_maps(maps, max_channels)
    if maps.ndim == 4:
        maps = maps[:, maps.shape[1] // 2]
    elif maps.ndim == 2:
        maps = np.repeat(maps[:, None, :], _CONV1D_ROW_HEIGHT, axis=1)
    tiles = _normalise_each(maps[:max_channels].astype(np.float64))
    count, height, width = tiles.shape
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    grid = np.zeros((rows * (height + _PAD) - _PAD, cols * (width + _PAD) - _PAD), np.uint8)
    for index, tile in enumerate(tiles):
        r, c = divmod(index, cols)
        top, left = r * (height + _PAD), c * (width + _PAD)
        grid[top : top + height, left : left + width] = tile
    return grid


def check_feature_maps(maps: np.ndarray, max_channels: int = 16) -> np.ndarray:
    """Validate one sample's feature maps for ``feature_map_grid``; returns them as an array.

    >>> check_feature_maps(np.zeros((3, 4, 4))).shape
    (3, 4, 4)
    """
    try:
        maps = np.asarray(maps)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"feature maps must be a rectangular numeric array: {error}") from None
    if not (np.issubdtype(maps.dtype, np.number) or maps.dtype == np.bool_) or np.iscomplexobj(maps):
        raise TypeError(f"feature maps must be a real numeric array, got dtype {maps.dtype}")
    if maps.ndim not in (2, 3, 4) or 0 in maps.shape:
        raise ValueError(
            f"feature maps must be a non-empty [C, L], [C, H, W] or [C, D, H, W] array, "
            f"got shape {maps.shape}"
        )
    if isinstance(max_channels, bool) or not isinstance(max_channels, int):
        raise TypeError(f"max_channels must be an int, got {max_channels!r}")
    if max_channels < 1:
        raise ValueError(f"max_channels must be >= 1, got {max_channels}")
    return maps


def _normalise_each(maps: np.ndarray) -> np.ndarray:
    finite = np.isfinite(maps)
    # min/max over the finite entries only; an all-non-finite channel gets 0..1 (drawn black)
    low = np.where(finite, maps, np.inf).min(axis=(1, 2), keepdims=True)
    high = np.where(finite, maps, -np.inf).max(axis=(1, 2), keepdims=True)
    low, high = np.where(np.isfinite(low), low, 0.0), np.where(np.isfinite(high), high, 1.0)
    span = high - low
    with np.errstate(all="ignore"):
        scaled = np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.5)
    scaled = np.where(finite, scaled, 0.0)
    return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image: ``[H, W]`` grey, ``[H, W, 3]`` RGB or ``[H, W, 4]`` RGBA.

    Raises:
        ValueError: not uint8, an empty image, or an unsupported channel count.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"a PNG image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape:
        raise ValueError(f"a PNG image must be [H, W], [H, W, 3] or [H, W, 4], got {image.shape}")
    height, width, channels = image.shape
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    scanlines = np.zeros((height, 1 + width * channels), np.uint8)
    scanlines[:, 1:] = image.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)),
            _chunk(b"IEND", b""),
        ]
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
