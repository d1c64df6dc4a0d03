"""Pure shaping of netviz data as the data provider returns it: no I/O here.

``reader.py`` fetches; these functions turn provider values into tables,
sampling summaries and alert lists, and are tested on plain objects.

Example:
    >>> import numpy as np
    >>> from tensorboard.data.provider import TensorDatum
    >>> data = [TensorDatum(step=s, wall_time=1.0, numpy=np.full((2, 1), s, np.float32)) for s in (0, 10)]
    >>> table = layer_table({"layers": ["a", "b"], "stats": ["grad_l2"]}, data)
    >>> table.steps.tolist(), table.values_at([1]).tolist()
    ([0, 10], [[[10.0], [10.0]]])
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tb_netviz.plugin.cache import ByteBudgetCache

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Encoded responses kept with each table: a repeated request with unchanged
# data (a dashboard reload, a return to a run) is answered without re-encoding.
RESPONSE_BYTES_PER_TABLE = 32 << 20


class UnreadableDataError(ValueError):
    """Stored netviz data does not have the shape its metadata promises."""


@dataclasses.dataclass(frozen=True)
class LayerTable:
    """Per-layer statistics over steps: ``rows[step]`` is the ``[layer, stat]`` array of ``steps[step]``.

    ``steps`` ascend and are unique (the newest event wins a repeated step);
    ``skipped`` counts events whose shape did not match the metadata (the
    layer set changed mid-run: TensorBoard keeps only the first metadata).
    ``responses`` keeps encoded response bodies made from this table.

    The rows are the provider's own arrays, not copied into one block: a
    response uses a few hundred of them, and allocating one fresh 140 MB block
    for 10,000 steps x 500 layers took up to 0.3 s (page faults and huge-page
    compaction), fifteen times the copy itself.
    """

    layers: tuple[str, ...]
    stats: tuple[str, ...]
    steps: np.ndarray
    wall_times: np.ndarray
    rows: tuple[np.ndarray, ...]
    content: dict[str, Any]
    skipped: int = 0
    responses: ByteBudgetCache = dataclasses.field(
        default_factory=lambda: ByteBudgetCache(RESPONSE_BYTES_PER_TABLE), compare=False, repr=False
    )

    def values_at(
        self,
        indices: Sequence[int],
        columns: Sequence[int] | None = None,
        layers: Sequence[int] | None = None,
    ) -> np.ndarray:
        """float32 ``values[step, layer, stat]`` of the steps at ``indices``.

        ``columns`` and ``layers`` are positions in ``stats`` and ``layers``; None means all.

        >>> rows = (np.float32([[1, 2], [5, 6]]), np.float32([[3, 4], [7, 8]]))
        >>> table = LayerTable(("fc", "out"), ("a", "b"), np.array([0, 5]), np.zeros(2), rows, {})
        >>> table.values_at([1], columns=[1], layers=[1, 0]).tolist()
        [[[8.0], [4.0]]]
        """
        picked_layers = slice(None) if layers is None else np.asarray(layers, dtype=np.intp)
        picked_columns = slice(None) if columns is None else np.asarray(columns, dtype=np.intp)
        height = len(self.layers) if layers is None else len(layers)
        width = len(self.stats) if columns is None else len(columns)
        values = np.empty((len(indices), height, width), dtype=np.float32)
        for out, index in zip(values, indices, strict=True):
            out[...] = self.rows[index][picked_layers][:, picked_columns]
        return values

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays and, at most, by the kept responses."""
        rows = sum(row.nbytes for row in self.rows)
        return self.steps.nbytes + self.wall_times.nbytes + rows + RESPONSE_BYTES_PER_TABLE


def layer_table(content: dict[str, Any], data: Sequence[Any]) -> LayerTable:
    """A ``LayerTable`` from a metadata content and ``TensorDatum``-like values.

    Raises UnreadableDataError when the content lacks its ``layers`` or ``stats`` lists.
    """
    layers = _names(content, "layers")
    stats = _names(content, "stats")
    shape = (len(layers), len(stats))
    kept = [datum for datum in data if np.shape(datum.numpy) == shape]
    steps = np.fromiter((d.step for d in kept), dtype=np.int64, count=len(kept))
    newest = _newest_per_step(steps)
    wall_times = np.fromiter((kept[i].wall_time for i in newest), dtype=np.float64, count=len(newest))
    return LayerTable(
        layers=layers,
        stats=stats,
        steps=steps[newest],
        wall_times=wall_times,
        rows=tuple(np.asarray(kept[i].numpy) for i in newest.tolist()),
        content=content,
        skipped=len(data) - len(kept),
    )


def sampling_summary(steps: np.ndarray, content: dict[str, Any], keeps_all: bool) -> dict[str, Any]:
    """How many steps TensorBoard kept of a series, and whether it dropped some.

    ``log_every_n_steps`` is the interval the writer recorded for the series:
    the content's ``log_every_n_steps`` (gradient flow) or ``sample_every_n_steps``
    (activations of the probe batch). ``expected`` is the number of steps written
    between the first and the last kept step, known when that interval is;
    without it ``expected`` and ``sampled`` are None (unknown), unless
    ``keeps_all`` (``--samples_per_plugin=netviz=0``) says nothing was dropped.

    >>> summary = sampling_summary(np.array([0, 30, 90]), {"log_every_n_steps": 10}, keeps_all=False)
    >>> summary["expected"], summary["sampled"]
    (10, True)
    """
    every = _positive_int(content.get("log_every_n_steps")) or _positive_int(
        content.get("sample_every_n_steps")
    )
    kept = len(steps)
    first = int(steps[0]) if kept else None
    last = int(steps[-1]) if kept else None
    expected = (last - first) // every + 1 if kept and every else (0 if every else None)
    if keeps_all:
        sampled: bool | None = False
    else:
        sampled = None if expected is None else kept < expected
    return {
        "kept": kept,
        "first_step": first,
        "last_step": last,
        "log_every_n_steps": every,
        "expected": expected,
        "sampled": sampled,
    }


def parse_alert_history(text: bytes | str) -> list[dict[str, Any]]:
    """The alerts in one ``netviz/alerts`` string, oldest first.

    Entries that are not objects with an integer ``step`` are left out; NaN or
    infinite numbers (``1e999`` included) come back as the strings ``"NaN"``,
    ``"Infinity"``, ``"-Infinity"``. Text that is not a JSON list raises UnreadableDataError.

    >>> parse_alert_history('[{"kind": "nonfinite", "step": 7}, {"step": "x"}, 3]')
    [{'kind': 'nonfinite', 'step': 7}]
    """
    try:
        parsed = json.loads(text, parse_constant=str, parse_float=_finite_or_name)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise UnreadableDataError(f"the alerts are not JSON: {error}") from None
    if not isinstance(parsed, list):
        raise UnreadableDataError("the alerts are not a JSON list")
    alerts = [a for a in parsed if isinstance(a, dict) and _is_int64(a.get("step"))]
    return sorted(alerts, key=lambda a: a["step"])


def ordered_layers(layers: Iterable[str], flow_order: Sequence[str]) -> list[str]:
    """``layers`` in data-flow order where ``flow_order`` knows them, the rest after, by name.

    >>> ordered_layers(["head", "zeta", "conv"], ["conv", "fc", "head"])
    ['conv', 'head', 'zeta']
    """
    position = {name: i for i, name in enumerate(flow_order)}
    return sorted(layers, key=lambda name: (position.get(name, math.inf), name))


def _names(content: dict[str, Any], field: str) -> tuple[str, ...]:
    names = content.get(field)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise UnreadableDataError(f"the metadata has no list of {field}")
    return tuple(names)


def _newest_per_step(steps: np.ndarray) -> np.ndarray:
    reversed_first = np.unique(steps[::-1], return_index=True)[1]
    return len(steps) - 1 - reversed_first


def _finite_or_name(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _is_int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
