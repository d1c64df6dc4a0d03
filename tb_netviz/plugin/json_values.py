"""JSON text for float arrays that may hold NaN, infinities and "no value".

JSON has no NaN or Infinity, so non-finite numbers become the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``; positions marked as missing
(a layer that received no gradient) become ``null``. The three stay
distinguishable from each other and from ``0``.

Numbers keep 7 significant digits, the precision of the float32 values the
callbacks write; fewer digits make a response several times smaller and
faster to encode than the 17 digits of a float64 ``repr``.

Example:
    >>> import numpy as np
    >>> values = np.array([[0.1, np.nan], [np.inf, 2.0]], np.float32)
    >>> encode_array(values, missing=np.array([[0, 0], [0, 1]], bool))
    '[[0.1, "NaN"], ["Infinity", null]]'
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from tb_netviz.plugin.gc_pause import paused_gc

SIGNIFICANT_DIGITS = 7
NAN = "NaN"
POSITIVE_INFINITY = "Infinity"
NEGATIVE_INFINITY = "-Infinity"

# Powers of ten up to 1e22 are exact in float64, so scaling by them and
# dividing back yields the float64 nearest to the rounded decimal, whose repr
# is short. Values needing a larger scale take a slower exact path.
_EXACT_POWER = 22


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
    """JSON text of ``values`` as nested lists (any shape), ``null`` where ``missing`` is true.

    ``missing`` is a boolean array of the same shape, or None.

    >>> encode_array(np.array([1e-30, -123456789.0, 0.0]))
    '[1e-30, -123456800.0, 0.0]'
    """
    values = np.asarray(values)
    rounded = round_significant(values)
    nan = np.isnan(rounded)
    posinf = rounded == np.inf
    neginf = rounded == -np.inf
    special = nan | posinf | neginf
    if missing is not None:
        missing = np.broadcast_to(np.asarray(missing, bool), values.shape)
        special = special | missing
    with paused_gc():
        if not special.any():
            return json.dumps(rounded.tolist())
        as_objects = rounded.astype(object)
        as_objects[nan] = NAN
        as_objects[posinf] = POSITIVE_INFINITY
        as_objects[neginf] = NEGATIVE_INFINITY
        if missing is not None:
            as_objects[missing] = None
        return json.dumps(as_objects.tolist())


def round_significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """``values`` as float64, each rounded to ``digits`` significant decimal digits.

    Non-finite values and zeros pass unchanged.

    >>> round_significant(np.float32([0.1, 3.0e-20, np.nan])).tolist()
    [0.1, 3e-20, nan]
    """
    out = np.array(values, dtype=np.float64)
    finite = np.isfinite(out) & (out != 0)
    if not finite.any():
        return out
    picked = out[finite]
    exponent = np.floor(np.log10(np.abs(picked))).astype(np.int64)
    scale_power = digits - 1 - exponent
    rounded = np.empty_like(picked)
    up = (scale_power >= 0) & (scale_power <= _EXACT_POWER)
    rounded[up] = np.round(picked[up] * 10.0 ** scale_power[up]) / 10.0 ** scale_power[up]
    down = (scale_power < 0) & (scale_power >= -_EXACT_POWER)
    rounded[down] = np.round(picked[down] / 10.0 ** -scale_power[down]) * 10.0 ** -scale_power[down]
    rest = ~(up | down)
    if rest.any():
        rounded[rest] = [float(f"{x:.{digits - 1}e}") for x in picked[rest]]
    out[finite] = rounded
    return out
