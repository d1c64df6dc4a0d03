"""JSON text for float arrays that may hold NaN, infinities and "no value".

JSON has no NaN or Infinity, so non-finite numbers become the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``; positions marked as missing
(a layer that received no gradient) become ``null``. The three stay
distinguishable from each other and from ``0``.

Numbers keep 7 significant digits, the precision of the float32 values the
callbacks write, rounded half to even as Python's ``f"{x:.6e}"`` rounds,
and are written in the shortest form of that scientific notation: trailing
zeros dropped, no exponent when it is 0, no ``+`` or leading zero in the
exponent (``1.5``, ``-2.5e-7``, ``1e30``).

A response holds hundreds of thousands of numbers, so the text of all of
them is built at once with numpy: each number gets a fixed-width slot of
bytes, unused bytes are padding, and one mask removes the padding.

Example:
    >>> import numpy as np
    >>> values = np.array([[0.1, np.nan], [np.inf, 2.0]], np.float32)
    >>> encode_array(values, missing=np.array([[0, 0], [0, 1]], bool))
    '[[1e-1,"NaN"],["Infinity",null]]'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SIGNIFICANT_DIGITS = 7
NAN = "NaN"
POSITIVE_INFINITY = "Infinity"
NEGATIVE_INFINITY = "-Infinity"

_PAD = 0
# The longest number: sign, 7 digits, point, "e", exponent sign, 3 exponent
# digits (float64 reaches 1e-324); the longest special, "-Infinity" quoted, is shorter.
NUMBER_WIDTH = 14
_SPECIAL_TEXTS = ('"NaN"', '"Infinity"', '"-Infinity"', "null")
# 10**p for p in [-_POWER_OFFSET, _POWER_OFFSET], each the float64 nearest to it.
_POWER_OFFSET = 170
_POWERS_OF_TEN = np.array([float(f"1e{p}") for p in range(-_POWER_OFFSET, _POWER_OFFSET + 1)])
# A scaled significand is computed with a relative error below 1e-15, so its
# rounding can only be wrong when it lies this close to a half; those few
# numbers are rounded exactly by Python's own formatting.
_HALF_TOLERANCE = 1e-6


def encode_number(value: float) -> Any:
    """One number as a JSON-ready value: a float, or one of the non-finite strings.

    >>> encode_number(float("-inf")), encode_number(1.5)
    ('-Infinity', 1.5)
    """
    value = float(value)
    if math.isnan(value):
        return NAN
    if math.isinf(value):
        return POSITIVE_INFINITY if value > 0 else NEGATIVE_INFINITY
    return value


def encode_array(values: np.ndarray, missing: np.ndarray | None = None) -> str:
    """Compact JSON text of ``values`` as nested lists (any shape), ``null`` where ``missing`` is true.

    ``missing`` is a boolean array of the same shape, or None.

    >>> encode_array(np.array([1e-30, -123456789.0, 0.0, 2.5]))
    '[1e-30,-1.234568e8,0,2.5]'
    >>> encode_array(np.zeros((2, 0)))
    '[[],[]]'
    """
    with np.errstate(invalid="ignore"):  # a signalling NaN stays a NaN
        values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return _empty_lists(values.shape)
    depth = values.ndim
    flat = values.ravel()
    # A slot: a comma, up to `depth` opening brackets, the number, up to `depth` closing brackets.
    slots = np.full((values.size, 1 + depth + NUMBER_WIDTH + depth), _PAD, dtype=np.uint8)
    numbers = slots[:, 1 + depth : 1 + depth + NUMBER_WIDTH]
    _write_numbers(numbers, flat)
    _write_specials(numbers, flat, None if missing is None else _flat_mask(missing, values.shape))
    _write_brackets(slots, values.shape)
    text = slots.ravel()
    return text[text != _PAD].tobytes().decode("ascii")


def _flat_mask(missing: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(missing, dtype=bool), shape).ravel()


def _empty_lists(shape: tuple[int, ...]) -> str:
    if shape[0] == 0:
        return "[]"
    return "[" + ",".join([_empty_lists(shape[1:])] * shape[0]) + "]"


def _write_brackets(slots: np.ndarray, shape: tuple[int, ...]) -> None:
    """Separators and brackets: every element opens the lists it starts and closes those it ends."""
    depth = len(shape)
    slots[1:, 0] = ord(",")
    period = 1
    for level, size in enumerate(reversed(shape)):
        period *= size
        slots[::period, depth - level] = ord("[")
        slots[period - 1 :: period, slots.shape[1] - 1 - level] = ord("]")


def _write_numbers(numbers: np.ndarray, flat: np.ndarray) -> None:
    """Each finite value's text (NaN and infinities get a placeholder that is overwritten)."""
    magnitude = np.abs(flat)
    nonzero = np.isfinite(magnitude) & (magnitude != 0)
    significand, exponent = decimal_significand(np.where(nonzero, magnitude, 1.0))
    significand[~nonzero] = 0
    exponent[~nonzero] = 0
    numbers[:, 0] = np.where(np.signbit(flat), ord("-"), _PAD)
    _write_digits(numbers, significand)
    _write_exponent(numbers, exponent)


def _write_digits(numbers: np.ndarray, significand: np.ndarray) -> None:
    """Columns 1-8: the first digit, the point and six more digits, trailing zeros dropped."""
    rest = significand.astype(np.uint32)
    in_trailing_zeros = np.ones(len(rest), dtype=bool)
    for position in range(SIGNIFICANT_DIGITS - 1, 0, -1):
        quotient = rest // 10
        digit = (rest - quotient * 10).astype(np.uint8)
        rest = quotient
        in_trailing_zeros &= digit == 0
        numbers[:, 2 + position] = np.where(in_trailing_zeros, _PAD, digit + ord("0"))
    numbers[:, 1] = rest.astype(np.uint8) + ord("0")
    numbers[:, 2] = np.where(in_trailing_zeros, _PAD, ord("."))


def _write_exponent(numbers: np.ndarray, exponent: np.ndarray) -> None:
    """Columns 9-13: ``e``, the sign if negative and the exponent's digits, nothing for 0."""
    size = np.abs(exponent).astype(np.uint16)
    numbers[:, 9] = np.where(exponent != 0, ord("e"), _PAD)
    numbers[:, 10] = np.where(exponent < 0, ord("-"), _PAD)
    numbers[:, 11] = np.where(size >= 100, size // 100 + ord("0"), _PAD)
    numbers[:, 12] = np.where(size >= 10, size // 10 % 10 + ord("0"), _PAD)
    numbers[:, 13] = np.where(size != 0, size % 10 + ord("0"), _PAD)


def _write_specials(numbers: np.ndarray, flat: np.ndarray, missing: np.ndarray | None) -> None:
    masks = [np.isnan(flat), flat == np.inf, flat == -np.inf, missing]
    for mask, text in zip(masks, _SPECIAL_TEXTS, strict=True):
        if mask is not None and mask.any():
            pattern = np.zeros(NUMBER_WIDTH, dtype=np.uint8)
            pattern[: len(text)] = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
            numbers[mask] = pattern


def decimal_significand(magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(significand, exponent)`` with ``magnitude`` ~= ``significand * 10**(exponent - 6)``.

    ``magnitude`` holds positive finite float64 values; ``significand`` holds
    7-digit integers (as float64), each ``magnitude`` rounded half to even to
    7 significant digits exactly as ``f"{x:.6e}"`` rounds it.

    >>> significand, exponent = decimal_significand(np.array([0.1, 12345675.0, 9.9999999e-8]))
    >>> significand.tolist(), exponent.tolist()
    ([1000000.0, 1234568.0, 1000000.0], [-1, 7, -7])
    """
    exponent = np.floor(np.log10(magnitude)).astype(np.int64)
    scaled = _scaled(magnitude, exponent)
    # log10 may be one off next to a power of ten.
    for wrong, step in ((scaled < 1e6, -1), (scaled >= 1e7, 1)):
        if wrong.any():
            exponent[wrong] += step
            scaled[wrong] = _scaled(magnitude[wrong], exponent[wrong])
    significand = np.rint(scaled)
    carried = significand == 1e7
    significand[carried] = 1e6
    exponent[carried] += 1
    for i in np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < _HALF_TOLERANCE):
        significand[i], exponent[i] = _exact_decimal(float(magnitude[i]))
    return significand, exponent


def _scaled(magnitude: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """``magnitude * 10**(6 - exponent)``, in two factors so that neither power overflows."""
    power = SIGNIFICANT_DIGITS - 1 - exponent
    first = power // 2
    return magnitude * _POWERS_OF_TEN[first + _POWER_OFFSET] * _POWERS_OF_TEN[power - first + _POWER_OFFSET]


def _exact_decimal(value: float) -> tuple[float, int]:
    text = f"{value:.{SIGNIFICANT_DIGITS - 1}e}"
    mantissa, exponent = text.split("e")
    return float(mantissa.replace(".", "")), int(exponent)
