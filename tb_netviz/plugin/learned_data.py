"""Pure shaping of kernels, weight matrices and embeddings for the ``weights`` and ``embedding`` routes.

Nothing is computed again here: the scales are the largest ``|value|`` of what
was written (the callback wrote the view itself), and the embedding is split
into its points and its explained-variance row.

Example:
    >>> import numpy as np
    >>> from tensorboard.data.provider import TensorDatum
    >>> rows = np.array([[1, 2, 0, 3], [-1, 0, 1, 5], [0.5, 0.25, 0.125, 0.875]], np.float32)
    >>> body = embedding_body("r", "fc", {"label_source": "predicted"}, [TensorDatum(4, 1.0, rows)])
    >>> body["steps"], body["points"], body["labels"], body["explained_variance"]
    ([4], [[[1.0, 2.0, 0.0], [-1.0, 0.0, 1.0]]], [[3, 5]], [[0.5, 0.25, 0.125]])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from tb_netviz.plugin import json_values
from tb_netviz.plugin.responses import with_raw_json
from tb_netviz.summary.weights import WEIGHT_VIEWS

# Content fields of a weights tensor that the dashboard needs, passed through as written.
_WEIGHT_FIELDS = (
    "layout",
    "dims",
    "kernel_size",
    "depth_slice",
    "out_channels",
    "in_channels",
    "shown",
    "rows",
    "cols",
    "pools",
    "block",
    "first_step",
)


def expected_ndim(content: dict[str, Any]) -> int:
    """The dimensions of a tensor of this content: ``[2, O, I, kh, kw]`` kernels, ``[2, P, R, C]``
    matrices, ``[N + 1, 4]`` embeddings.

    >>> expected_ndim({"kind": "weights", "layout": "kernel"}), expected_ndim({"kind": "embedding"})
    (5, 2)
    """
    if content.get("kind") == "embedding":
        return 2
    return 5 if content.get("layout") == "kernel" else 4


def kept_by_step(stored: Sequence[Any], ndim: int) -> list[Any]:
    """The events of ``ndim`` dimensions, one per step (the newest wins a repeated step), by step.

    >>> from tensorboard.data.provider import TensorDatum
    >>> data = [TensorDatum(step=s, wall_time=w, numpy=np.zeros((2, 1, 2))) for s, w in ((3, 1.0), (3, 2.0))]
    >>> [d.wall_time for d in kept_by_step(data, 3)]
    [2.0]
    """
    newest = {int(d.step): d for d in stored if np.ndim(d.numpy) == ndim}
    return [newest[step] for step in sorted(newest)]


def weights_steps_body(
    run: str, layer: str, content: dict[str, Any], stored: Sequence[Any]
) -> dict[str, Any]:
    """The ``weights`` body without ``step``: the layer's layout and its kept steps."""
    return {
        "run": run,
        "layer": layer,
        **{key: content.get(key) for key in _WEIGHT_FIELDS},
        "views": list(WEIGHT_VIEWS),
        "steps": [int(d.step) for d in stored],
        "wall_times": [json_values.encode_number(d.wall_time) for d in stored],
    }


def weights_step_body(run: str, layer: str, content: dict[str, Any], datum: Any, view: str) -> str:
    """The ``weights`` body at one step for ``view`` (``weights`` or ``change``): values and scale.

    >>> from tensorboard.data.provider import TensorDatum
    >>> tensor = np.stack([np.array([[[1.0, -4.0]]]), np.array([[[0.5, 0.0]]])]).astype(np.float32)
    >>> datum = TensorDatum(step=2, wall_time=1.0, numpy=tensor)
    >>> body = json.loads(weights_step_body("r", "fc", {"layout": "matrix"}, datum, "change"))
    >>> body["shape"], body["scale"], body["values"]
    ([1, 1, 2], 0.5, [[[0.5, 0]]])
    """
    values = np.asarray(datum.numpy)[WEIGHT_VIEWS.index(view)]
    finite = np.abs(values[np.isfinite(values)])
    head = {
        "run": run,
        "layer": layer,
        "step": int(datum.step),
        "wall_time": json_values.encode_number(datum.wall_time),
        "view": view,
        **{key: content.get(key) for key in _WEIGHT_FIELDS},
        "shape": list(values.shape),
        "scale": float(finite.max()) if finite.size else 0.0,
    }
    return with_raw_json(head, values=json_values.encode_array(values))


def embedding_body(run: str, layer: str, content: dict[str, Any], stored: Sequence[Any]) -> dict[str, Any]:
    """The ``embedding`` body: for each kept step, its points ``[N, 3]``, labels and explained variance."""
    points, labels, variance = [], [], []
    for datum in stored:
        rows = np.asarray(datum.numpy, np.float64)
        points.append([[json_values.encode_number(v) for v in row] for row in rows[:-1, :3]])
        labels.append([int(v) if np.isfinite(v) else -1 for v in rows[:-1, 3]])
        variance.append([json_values.encode_number(v) for v in rows[-1, :3]])
    return {
        "run": run,
        "layer": layer,
        "of": content.get("of"),
        "label_source": content.get("label_source"),
        "features": content.get("features"),
        "steps": [int(d.step) for d in stored],
        "wall_times": [json_values.encode_number(d.wall_time) for d in stored],
        "points": points,
        "labels": labels,
        "explained_variance": variance,
    }


def dumps(body: dict[str, Any]) -> str:
    """``body`` as strict JSON (non-finite numbers were already made null)."""
    return json.dumps(body, allow_nan=False)
