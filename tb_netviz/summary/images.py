"""Feature-map grids and PNG encoding, without PIL.

A feature-map grid is an RGB image: finite values in grey (each channel scaled to
its own minimum..maximum, black..white), a constant channel (a dead one, for
instance) in mid-grey ``CONSTANT_GREY``, and NaN/Inf in magenta ``NONFINITE_RGB``
(the dashboard's non-finite colour), so neither can be taken for the other; the
separators are steel blue ``SEPARATOR_RGB``, never a grey a channel could have. The
grid's layout (``feature_map_layout``) travels in the PNG as a ``tEXt`` chunk with
keyword ``LAYOUT_KEYWORD`` (``read_png_text`` reads it back); image viewers and
TensorBoard's Images tab ignore it.

Example:
    >>> import numpy as np
    >>> grid = feature_map_grid(np.random.rand(6, 5, 5), max_channels=4)
    >>> grid.dtype, grid.shape
    (dtype('uint8'), (11, 11, 3))
    >>> png = encode_png(grid, {LAYOUT_KEYWORD: "{}"})
    >>> png[:8], read_png_text(png)
    (b'\\x89PNG\\r\\n\\x1a\\n', {'netviz:layout': '{}'})
"""

from __future__ import annotations

import json
import math
import struct
import zlib

import numpy as np

_PAD = 1
_CONV1D_ROW_HEIGHT = 4

#: The colour of NaN/Inf pixels (the dashboard's ``SPECIAL_COLOURS.nonfinite``, #e4007c).
NONFINITE_RGB = (0xE4, 0x00, 0x7C)
#: The grey level of every pixel of a constant channel (all finite values equal).
CONSTANT_GREY = 128
#: The gaps between tiles and the unused grid slots: a colour, so never read as a grey value.
SEPARATOR_RGB = (0x4A, 0x6F, 0xA5)
#: The PNG ``tEXt`` keyword holding the grid layout as JSON (see ``feature_map_layout``).
LAYOUT_KEYWORD = "netviz:layout"


def feature_map_grid(maps: np.ndarray, max_channels: int = 16) -> np.ndarray:
    """One sample's feature maps as a uint8 RGB grid image ``[H, W, 3]``, each channel scaled on its own.

    ``maps`` is ``[C, L]`` (Conv1d: each channel becomes a horizontal strip),
    ``[C, H, W]`` (Conv2d) or ``[C, D, H, W]`` (Conv3d: the middle depth slice).
    The first ``max_channels`` channels are tiled row by row in a near-square grid
    with a one-pixel separator in ``SEPARATOR_RGB`` (layout: ``feature_map_layout``). Finite values
    are grey, black..white over the channel's own finite range; a constant channel
    is ``CONSTANT_GREY``; NaN and Inf are ``NONFINITE_RGB`` (magenta).

    >>> grid = feature_map_grid(np.array([[[0.0, 1.0, np.nan]], [[5.0, 5.0, 5.0]]]))
    >>> grid[0, :3].tolist(), grid[0, 4].tolist()
    ([[0, 0, 0], [255, 255, 255], [228, 0, 124]], [128, 128, 128])

    Raises:
        TypeError: a non-numeric array, or max_channels not an int.
        ValueError: wrong number of dimensions, an empty axis, or max_channels < 1.
    """
    maps = check_feature_maps(maps, max_channels)
    if maps.ndim == 4:
        maps = maps[:, maps.shape[1] // 2]
    elif maps.ndim == 2:
        maps = np.repeat(maps[:, None, :], _CONV1D_ROW_HEIGHT, axis=1)
    tiles = _colour_each(maps[:max_channels].astype(np.float64))
    count, height, width, _ = tiles.shape
    cols, rows = _grid_shape(count)
    grid = np.empty((rows * (height + _PAD) - _PAD, cols * (width + _PAD) - _PAD, 3), np.uint8)
    grid[...] = SEPARATOR_RGB
    for index, tile in enumerate(tiles):
        r, c = divmod(index, cols)
        top, left = r * (height + _PAD), c * (width + _PAD)
        grid[top : top + height, left : left + width] = tile
    return grid


def feature_map_layout(maps: np.ndarray, max_channels: int = 16) -> dict[str, int]:
    """Where each channel of ``feature_map_grid(maps, max_channels)`` lies, as plain ints.

    Tile ``i`` (channel ``i``, row ``i // columns``, column ``i % columns``) has its
    top-left pixel at ``(row * (tile_height + pad), column * (tile_width + pad))``.
    ``channels`` is how many are drawn, ``total_channels`` how many the layer has.

    >>> layout = feature_map_layout(np.zeros((20, 6, 5)), max_channels=5)
    >>> [layout[k] for k in ("channels", "total_channels", "columns", "rows", "tile_height", "tile_width")]
    [5, 20, 3, 2, 6, 5]
    """
    maps = check_feature_maps(maps, max_channels)
    height = _CONV1D_ROW_HEIGHT if maps.ndim == 2 else maps.shape[-2]
    count = min(max_channels, maps.shape[0])
    cols, rows = _grid_shape(count)
    return {
        "channels": count,
        "total_channels": int(maps.shape[0]),
        "columns": cols,
        "rows": rows,
        "tile_height": int(height),
        "tile_width": int(maps.shape[-1]),
        "pad": _PAD,
    }


def _grid_shape(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    return cols, math.ceil(count / cols)


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


def _colour_each(maps: np.ndarray) -> np.ndarray:
    finite = np.isfinite(maps)
    # min/max over the finite entries only; an all-non-finite channel gets 0..1 (all magenta anyway)
    low = np.where(finite, maps, np.inf).min(axis=(1, 2), keepdims=True)
    high = np.where(finite, maps, -np.inf).max(axis=(1, 2), keepdims=True)
    low, high = np.where(np.isfinite(low), low, 0.0), np.where(np.isfinite(high), high, 1.0)
    span = high - low
    with np.errstate(all="ignore"):
        scaled = np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.0)
    scaled = np.where(finite, scaled, 0.0)
    grey = np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)
    grey = np.where(span > 0, grey, np.uint8(CONSTANT_GREY))
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    rgb[~finite] = NONFINITE_RGB
    return rgb


def encode_png(image: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    """PNG bytes of a uint8 image: ``[H, W]`` grey, ``[H, W, 3]`` RGB or ``[H, W, 4]`` RGBA.

    ``text`` adds one ``tEXt`` chunk per ``keyword: value`` (Latin-1, keyword 1..79 characters).

    >>> read_png_text(encode_png(np.zeros((1, 1), np.uint8), {"k": "v"}))
    {'k': 'v'}

    Raises:
        ValueError: not uint8, an empty image, an unsupported channel count, or bad text.
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
            *[_text_chunk(keyword, value) for keyword, value in (text or {}).items()],
            _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)),
            _chunk(b"IEND", b""),
        ]
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def read_png_text(png: bytes) -> dict[str, str]:
    """The ``tEXt`` chunks of PNG bytes as ``{keyword: value}`` (empty when none, or not a PNG).

    >>> read_png_text(b"not a png")
    {}
    """
    texts: dict[str, str] = {}
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        return texts
    offset = 8
    while offset + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        data = png[offset + 8 : offset + 8 + length]
        if kind == b"tEXt" and b"\0" in data:
            keyword, value = data.split(b"\0", 1)
            texts[keyword.decode("latin-1")] = value.decode("latin-1")
        if kind in (b"IDAT", b"IEND"):
            break
        offset += 12 + length
    return texts


def _text_chunk(keyword: str, value: str) -> bytes:
    try:
        key, data = keyword.encode("latin-1"), value.encode("latin-1")
    except UnicodeEncodeError as error:
        raise ValueError(f"PNG text must be Latin-1: {error}") from None
    if not 1 <= len(key) <= 79 or b"\0" in key or b"\0" in data:
        raise ValueError(f"bad PNG text keyword {keyword!r}: 1..79 characters, no NUL")
    return _chunk(b"tEXt", key + b"\0" + data)


def read_feature_map_layout(png: bytes) -> dict[str, int] | None:
    """The ``feature_map_layout`` a feature-map PNG carries, or None (older logs, or not readable).

    >>> grid = np.zeros((1, 1, 3), np.uint8)
    >>> read_feature_map_layout(encode_png(grid, {LAYOUT_KEYWORD: '{"channels": 1}'}))
    {'channels': 1}
    >>> read_feature_map_layout(encode_png(grid)) is None
    True
    """
    try:
        layout = json.loads(read_png_text(png).get(LAYOUT_KEYWORD, "null"))
    except ValueError:
        return None
    if not isinstance(layout, dict):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in layout.values()):
        return None
    return layout
