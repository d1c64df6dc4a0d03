"""JSON bodies of the routes, built from what the reader returns: pure functions.

Large arrays are encoded by ``json_values`` and spliced into the body as
text, so the encoder walks each number once.

Example:
    >>> import numpy as np
    >>> from tb_netviz.plugin.data import LayerTable
    >>> rows = (np.float32([[0.5, 1]]), np.float32([[np.nan, 0]]))
    >>> table = LayerTable(("fc",), ("grad_l2", "has_grad"), np.array([0, 10]), np.ones(2), rows, {})
    >>> body = layer_stats_body("r", table, ["grad_l2"], max_steps=10, null_where_no_gradient=True)
    >>> body[body.index('"alert_thresholds"'):]
    '"alert_thresholds": null, "model_layer": null, "values": [[[5e-1]],[[null]]]}'
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tb_netviz.plugin import json_values
from tb_netviz.plugin.data import LayerTable
from tb_netviz.plugin.downsample import pick_step_indices
from tb_netviz.summary.metadata import ALERT_THRESHOLDS_KEY, MODEL_LAYER_KEY

# The AlertThresholds fields a layer table's metadata may carry, all numbers.
THRESHOLD_FIELDS = ("vanishing_ratio", "exploding_factor", "dead_fraction", "patience")

# Columns that keep their value when a layer received no gradient: the
# parameters' own norm, and the flag that says so.
KEPT_WITHOUT_GRADIENT = ("param_l2", "has_grad")


def layer_stats_body(
    run: str,
    table: LayerTable,
    stats: Sequence[str],
    *,
    layers: Sequence[str] | None = None,
    min_step: int | None = None,
    max_step: int | None = None,
    max_steps: int,
    required_steps: Iterable[int] = (),
    null_where_no_gradient: bool = False,
) -> str:
    """The ``gradient_flow`` / ``activations`` body: the selected columns and layers over the selected steps.

    ``layers`` None means all of the table's layers. ``null_where_no_gradient``
    makes every column except ``KEPT_WITHOUT_GRADIENT`` null where the table's
    ``has_grad`` is 0.
    """
    in_range = np.ones(len(table.steps), dtype=bool)
    if min_step is not None:
        in_range &= table.steps >= min_step
    if max_step is not None:
        in_range &= table.steps <= max_step
    candidates = np.flatnonzero(in_range)
    picked = candidates[pick_step_indices(table.steps[candidates], max_steps, required_steps)]
    columns = [table.stats.index(name) for name in stats]
    layers = list(table.layers) if layers is None else list(layers)
    layer_positions = None if layers == list(table.layers) else _positions(table.layers, layers)
    values = table.values_at(picked, columns, layer_positions)
    missing = _no_gradient_mask(table, picked, stats, layer_positions) if null_where_no_gradient else None
    head = {
        "run": run,
        "layers": layers,
        "stats": list(stats),
        "steps": table.steps[picked].tolist(),
        "wall_times": [json_values.encode_number(w) for w in table.wall_times[picked].tolist()],
        "total_steps": int(candidates.size),
        "downsampled": bool(picked.size < candidates.size),
        "alert_thresholds": alert_thresholds(table.content),
        "model_layer": model_layer(table.content, layers),
    }
    return with_raw_json(head, values=json_values.encode_array(values, missing))


def alert_thresholds(content: dict[str, Any]) -> dict[str, float] | None:
    """The alert thresholds the run was checked with, from a table's metadata; None if absent or malformed.

    >>> alert_thresholds({"alert_thresholds": {"vanishing_ratio": 1e-3, "exploding_factor": 10,
    ...                                        "dead_fraction": 0.5, "patience": 3}})["vanishing_ratio"]
    0.001
    >>> alert_thresholds({}) is None, alert_thresholds({"alert_thresholds": {"patience": "3"}}) is None
    (True, True)
    >>> alert_thresholds({"alert_thresholds": {"vanishing_ratio": 10**400, "exploding_factor": 10,
    ...                                        "dead_fraction": 0.5, "patience": 3}}) is None
    True
    """
    found = content.get(ALERT_THRESHOLDS_KEY)
    if not isinstance(found, dict):
        return None
    values = {name: found.get(name) for name in THRESHOLD_FIELDS}
    numbers = all(_finite_number(v) for v in values.values())
    return values if numbers else None


def model_layer(content: dict[str, Any], layers: Sequence[str]) -> str | None:
    """The returned row that holds the model's own parameters, from a table's metadata; None when the
    metadata does not say (older logs, activations) or that row is not among ``layers``.

    >>> model_layer({"model_layer": "Reverser"}, ["Reverser", "encoder.fc"])
    'Reverser'
    >>> model_layer({"model_layer": "Reverser"}, ["encoder.fc"]) is None, model_layer({}, ["fc"]) is None
    (True, True)
    """
    found = content.get(MODEL_LAYER_KEY)
    return found if isinstance(found, str) and found in layers else None


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float, from a hand-made log
        return False


def attention_steps_body(
    run: str, layer: str, content: dict[str, Any], stored: Sequence[Any]
) -> dict[str, Any]:
    """The ``attention`` body without ``step``: the steps kept and the labels.

    >>> attention_steps_body("r", "attn", {"tokens": ["a", "b"]}, [])["heads"] is None
    True
    """
    return {
        "run": run,
        "layer": layer,
        "steps": [int(d.step) for d in stored],
        "heads": int(np.shape(stored[-1].numpy)[0]) if stored else None,
        **_token_fields(content),
    }


def attention_step_body(run: str, layer: str, content: dict[str, Any], datum: Any) -> str:
    """The ``attention`` body at one step: the ``[H, Q, K]`` matrix and its labels."""
    heads, queries, keys = np.shape(datum.numpy)
    head = {
        "run": run,
        "layer": layer,
        "step": int(datum.step),
        "wall_time": json_values.encode_number(datum.wall_time),
        "heads": heads,
        "queries": queries,
        "keys": keys,
        **_token_fields(content),
    }
    return with_raw_json(head, values=json_values.encode_array(datum.numpy))


def gzipped(text: str) -> bytes:
    """``text`` as UTF-8, gzip-compressed at level 1.

    TensorBoard compresses its own responses at level 3; on these bodies of
    numbers level 1 is two to four times faster for about 8% more bytes.

    >>> gzip.decompress(gzipped('{"a": 1}'))
    b'{"a": 1}'
    """
    return gzip.compress(text.encode("utf-8"), compresslevel=1, mtime=0)


def with_raw_json(fields: dict[str, Any], **raw: str) -> str:
    """A JSON object of ``fields`` followed by members whose values are already JSON text.

    >>> with_raw_json({"a": 1}, b="[2]")
    '{"a": 1, "b": [2]}'
    """
    members = [json.dumps(fields, allow_nan=False)[1:-1]] if fields else []
    members += [f"{json.dumps(name)}: {text}" for name, text in raw.items()]
    return "{" + ", ".join(members) + "}"


def _positions(names: Sequence[str], wanted: Sequence[str]) -> list[int]:
    position = {name: i for i, name in enumerate(names)}
    return [position[name] for name in wanted]


def _no_gradient_mask(
    table: LayerTable, picked: np.ndarray, stats: Sequence[str], layer_positions: Sequence[int] | None
) -> np.ndarray | None:
    if "has_grad" not in table.stats:
        return None
    has_grad = table.values_at(picked, [table.stats.index("has_grad")], layer_positions)
    no_gradient = has_grad[:, :, 0] == 0
    nulled = np.array([name not in KEPT_WITHOUT_GRADIENT for name in stats])
    return no_gradient[:, :, None] & nulled[None, None, :]


def _token_fields(content: dict[str, Any]) -> dict[str, list[str] | None]:
    return {name: _labels(content.get(name)) for name in ("tokens", "query_tokens", "key_tokens")}


def _labels(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None
