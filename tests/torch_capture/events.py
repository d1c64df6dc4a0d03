"""Reading what a run directory holds, straight from its event files (no TensorFlow)."""

from __future__ import annotations

import glob
import json
import os
import struct
from collections import defaultdict

import numpy as np
from tensorboard.compat.proto import event_pb2


def event_files(log_dir: str) -> list[str]:
    return sorted(glob.glob(os.path.join(str(log_dir), "**", "events.out.tfevents.*"), recursive=True))


def read_events(log_dir: str) -> list[event_pb2.Event]:
    events = []
    for path in event_files(log_dir):
        with open(path, "rb") as handle:
            data = handle.read()
        offset = 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            record = data[offset + 12 : offset + 12 + length]
            offset += 12 + length + 4
            events.append(event_pb2.Event.FromString(record))
    return events


class Run:
    """Summaries of a run by tag: ``run.values(tag)`` -> [(step, value)], ``run.content(tag)``."""

    def __init__(self, log_dir: str) -> None:
        self.by_tag: dict[str, list] = defaultdict(list)
        self.metadata: dict[str, object] = {}
        for event in read_events(log_dir):
            for value in event.summary.value:
                self.by_tag[value.tag].append((event.step, value))
                if value.HasField("metadata") and value.tag not in self.metadata:
                    self.metadata[value.tag] = value.metadata

    @property
    def tags(self) -> set[str]:
        return set(self.by_tag)

    def content(self, tag: str) -> dict:
        return json.loads(self.metadata[tag].plugin_data.content.decode())

    def values(self, tag: str) -> list[tuple[int, np.ndarray]]:
        return [(step, decode(value)) for step, value in self.by_tag[tag]]

    def table(self, tag: str, step: int) -> dict[str, dict[str, float]]:
        """``{layer: {stat: value}}`` of a gradient_flow / activations event at ``step``."""
        content = self.content(tag)
        for event_step, value in self.values(tag):
            if event_step == step:
                return {
                    layer: dict(zip(content["stats"], row.tolist(), strict=True))
                    for layer, row in zip(content["layers"], value, strict=True)
                }
        raise KeyError(f"no {tag} event at step {step}")

    def scalars(self, tag: str) -> dict[int, float]:
        return {step: float(value) for step, value in self.values(tag)}


def decode(value) -> np.ndarray:
    tensor = value.tensor
    if tensor.string_val:
        return [s for s in tensor.string_val]
    shape = [d.size for d in tensor.tensor_shape.dim]
    if tensor.float_val:
        return np.array(tensor.float_val, np.float32).reshape(shape)
    return np.frombuffer(tensor.tensor_content, "<f4").reshape(shape)
