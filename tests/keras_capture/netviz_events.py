"""Reading back what a NetVizCallback wrote: every summary of a run directory, by tag."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tb_netviz.summary import GRADIENT_STATS


@dataclasses.dataclass
class Logged:
    """One summary value: its step, its tensor as numpy, and the content of its metadata (if any)."""

    step: int
    value: Any
    content: dict | None
    plugin: str


def read_run(log_dir: str | Path) -> dict[str, list[Logged]]:
    """All summaries of all event files in ``log_dir``, grouped by tag, in file order."""
    by_tag: dict[str, list[Logged]] = {}
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                content = None
                if plugin == "netviz" and value.metadata.plugin_data.content:
                    content = json.loads(value.metadata.plugin_data.content.decode("utf-8"))
                by_tag.setdefault(value.tag, []).append(
                    Logged(event.step, tf.make_ndarray(value.tensor), content, plugin)
                )
    return by_tag


def gradient_rows(log_dir: str | Path) -> tuple[list[str], dict[int, dict[str, dict[str, float]]]]:
    """The gradient-flow layer names and ``{step: {layer: {stat: value}}}``."""
    events = read_run(log_dir)["netviz/gradient_flow"]
    content = events[0].content
    assert content["stats"] == list(GRADIENT_STATS)
    table = {
        e.step: {
            layer: dict(zip(content["stats"], map(float, row), strict=True))
            for layer, row in zip(content["layers"], e.value, strict=True)
        }
        for e in events
    }
    return content["layers"], table


def as_array(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)
