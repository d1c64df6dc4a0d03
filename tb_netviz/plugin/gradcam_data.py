"""Pure shaping of Grad-CAM data for the ``gradcam`` and ``probe_inputs`` routes: no I/O here.

Example:
    >>> import numpy as np
    >>> from tensorboard.data.provider import TensorDatum
    >>> maps = [TensorDatum(step=s, wall_time=1.0, numpy=np.full((2, 3, 3), s, np.float32)) for s in (0, 5)]
    >>> body = gradcam_steps_body("exp1", "conv2", {"target": "predicted"}, maps, {"labels": [1, 0]})
    >>> body["steps"], body["max"], body["step_max"], body["labels"]
    ([0, 5], 5.0, [0.0, 5.0], [1, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tb_netviz.plugin import json_values
from tb_netviz.plugin.responses import with_raw_json


def kept_maps(stored: Sequence[Any]) -> list[Any]:
    """The ``[N, H, W]`` events of one layer, one per step (the newest wins a repeated step), by step.

    >>> from tensorboard.data.provider import TensorDatum
    >>> data = [TensorDatum(step=s, wall_time=w, numpy=np.zeros((1, 2, 2))) for s, w in ((3, 1.0), (3, 2.0))]
    >>> [d.wall_time for d in kept_maps(data)]
    [2.0]
    """
    newest = {int(d.step): d for d in stored if np.ndim(d.numpy) == 3}
    return [newest[step] for step in sorted(newest)]


def gradcam_steps_body(
    run: str, layer: str, content: dict[str, Any], maps: Sequence[Any], targets_content: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``gradcam`` body without ``step``: the kept steps and the scale over all of them."""
    peaks = [_peak(d.numpy) for d in maps]
    shape = list(np.shape(maps[-1].numpy)) if maps else [None, None, None]
    finite = [p for p in peaks if p is not None]
    return {
        "run": run,
        "layer": layer,
        "target": content.get("target"),
        "labels": _labels(targets_content),
        "samples": shape[0],
        "height": shape[1],
        "width": shape[2],
        "steps": [int(d.step) for d in maps],
        "wall_times": [json_values.encode_number(d.wall_time) for d in maps],
        "step_max": peaks,
        "max": max(finite) if finite else None,
    }


def gradcam_step_body(
    run: str,
    layer: str,
    content: dict[str, Any],
    datum: Any,
    targets: Any | None,
    targets_content: dict[str, Any] | None,
    run_max: float | None,
) -> str:
    """The ``gradcam`` body at one step: the maps ``values[n][y][x]`` and, per sample, class and probability.

    ``targets`` is the ``netviz/gradcam_targets`` event of the same step, or None
    when TensorBoard did not keep it (``classes`` and ``probabilities`` are then null).

    >>> import json
    >>> from tensorboard.data.provider import TensorDatum
    >>> maps = TensorDatum(step=5, wall_time=1.0, numpy=np.float32([[[0.0, 0.5]]]))
    >>> targets = TensorDatum(step=5, wall_time=1.0, numpy=np.float32([[3, 0.75]]))
    >>> text = gradcam_step_body("exp1", "conv", {"target": "label"}, maps, targets, {"labels": [3]}, 2.0)
    >>> body = json.loads(text)
    >>> body["classes"], body["probabilities"], body["labels"], body["values"], body["run_max"]
    ([3], [0.75], [3], [[[0, 0.5]]], 2.0)
    """
    maps = np.asarray(datum.numpy, dtype=np.float32)
    samples, height, width = maps.shape
    table = None if targets is None else np.asarray(targets.numpy)
    usable = table is not None and table.shape == (samples, 2)
    head = {
        "run": run,
        "layer": layer,
        "step": int(datum.step),
        "wall_time": json_values.encode_number(datum.wall_time),
        "target": content.get("target"),
        "samples": samples,
        "height": height,
        "width": width,
        "labels": _labels(targets_content),
        "classes": [int(c) for c in table[:, 0]] if usable else None,
        "probabilities": [json_values.encode_number(float(p)) for p in table[:, 1]] if usable else None,
        "max": _peak(maps),
        "run_max": run_max,
    }
    return with_raw_json(head, values=json_values.encode_array(maps))


def probe_inputs_body(run: str, datum: Any) -> str:
    """The ``probe_inputs`` body: the images ``values[n][y][x][c]`` (0..1), as written once.

    >>> import json
    >>> from tensorboard.data.provider import TensorDatum
    >>> datum = TensorDatum(step=0, wall_time=1.0, numpy=np.float32([[[[0.0], [1.0]]]]))
    >>> body = json.loads(probe_inputs_body("exp1", datum))
    >>> body["samples"], body["height"], body["width"], body["channels"], body["values"]
    (1, 1, 2, 1, [[[[0], [1]]]])
    """
    images = np.asarray(datum.numpy, dtype=np.float32)
    samples, height, width, channels = images.shape
    head = {
        "run": run,
        "step": int(datum.step),
        "samples": samples,
        "height": height,
        "width": width,
        "channels": channels,
    }
    return with_raw_json(head, values=json_values.encode_array(images))


def _peak(maps: Any) -> float | None:
    values = np.asarray(maps, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else None


def _labels(content: dict[str, Any] | None) -> list[int] | None:
    labels = (content or {}).get("labels")
    if isinstance(labels, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        return labels
    return None
