"""A small PNG decoder (zlib only), independent of the encoder under test.

Handles 8-bit grey, RGB and RGBA, non-interlaced, with all five scanline
filters, and checks every chunk's CRC.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 6: 4}


def decode_png(data: bytes) -> np.ndarray:
    """The pixels of a PNG as uint8 ``[H, W]`` (grey) or ``[H, W, C]``."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG: bad signature")
    chunks = list(_chunks(data[len(_SIGNATURE) :]))
    kinds = [kind for kind, _ in chunks]
    if kinds[0] != b"IHDR" or kinds[-1] != b"IEND":
        raise ValueError(f"PNG chunks out of order: {kinds}")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    channels = _CHANNELS[colour]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError(f"PNG data has {len(raw)} bytes, expected {height * (stride + 1)}")
    pixels = np.zeros((height, stride), np.uint8)
    previous = np.zeros(stride, np.int32)
    for row in range(height):
        line = raw[row * (stride + 1) : (row + 1) * (stride + 1)]
        current = _unfilter(line[0], np.frombuffer(line[1:], np.uint8).astype(np.int32), previous, channels)
        pixels[row] = current
        previous = current
    image = pixels.reshape(height, width, channels)
    return image[:, :, 0] if channels == 1 else image


def _chunks(data: bytes):
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"PNG chunk {kind!r} has a bad CRC")
        yield kind, body
        offset += 12 + length


def _unfilter(kind: int, line: np.ndarray, above: np.ndarray, bpp: int) -> np.ndarray:
    if kind == 0:
        return line
    if kind == 2:
        return (line + above) & 0xFF
    out = np.zeros_like(line)
    for i in range(len(line)):
        left = out[i - bpp] if i >= bpp else 0
        upper_left = above[i - bpp] if i >= bpp else 0
        if kind == 1:
            predictor = left
        elif kind == 3:
            predictor = (left + above[i]) // 2
        elif kind == 4:
            predictor = _paeth(left, above[i], upper_left)
        else:
            raise ValueError(f"unknown PNG filter type {kind}")
        out[i] = (line[i] + predictor) & 0xFF
    return out


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
