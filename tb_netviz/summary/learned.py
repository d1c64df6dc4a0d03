"""What the network has learned, per layer and sample step: weights and the embedding, as summaries.

``WeightSeries`` turns one layer's raw kernel or matrix at each sample step into
the ``netviz/weights/<layer>`` tensor (``w_t`` and ``w_t - w_0`` stacked, see
``tb_netviz.summary.weights``) and its pictures in the Images tab.
``EmbeddingSeries`` turns one layer's features on the probe batch into the
``netviz/embedding/<layer>`` tensor (PCA, aligned across steps) and, if asked,
a Projector export. Both keep state from step to step (``w_0``, the previous
components), so each series must see its steps in order: ``NetVizWriter``
runs them on its one writer thread.

Example:
    >>> import numpy as np
    >>> series = WeightSeries("conv1", "kernel", "oik", max_channels=4)
    >>> values = series.values(0, np.ones((8, 3, 3, 3)))
    >>> [v.tag for v in values]
    ['netviz/weights/conv1', 'netviz/weight_images/conv1', 'netviz/kernel_rgb/conv1']
    >>> [d.size for d in values[0].tensor.tensor_shape.dim]
    [2, 4, 3, 3, 3]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from tensorboard.compat.proto import summary_pb2

from tb_netviz.summary import metadata
from tb_netviz.summary.embedding import EMBEDDING_COLUMNS, EmbeddingProjection, check_features, embedding_rows
from tb_netviz.summary.encoders import _float_tensor_value, image_value
from tb_netviz.summary.projector import ProjectorExport
from tb_netviz.summary.weight_images import kernel_grid_image, matrix_image, rgb_kernels_image
from tb_netviz.summary.weights import (
    KERNEL,
    KERNEL_AXES,
    MATRIX,
    MATRIX_AXES,
    MAX_MATRIX_SIDE,
    WEIGHT_VIEWS,
    WeightView,
    diverging_scale,
    kernel_view,
    matrix_view,
)

if TYPE_CHECKING:
    from tb_netviz.summary.options import CaptureOptions
    from tb_netviz.summary.writer import NetVizWriter

Value = summary_pb2.Summary.Value
# Where an embedding's point labels came from.
LABELS_GIVEN = "sample_labels"
LABELS_PREDICTED = "predicted"
LABELS_NONE = "none"
# Label of a point whose class is unknown (no sample_labels, and the model output is not [N, classes]).
UNKNOWN_LABEL = -1


def classes_from_scores(scores: np.ndarray | None, count: int) -> tuple[np.ndarray, str]:
    """The argmax class of each of ``count`` samples from ``[N, classes]`` scores, and the label source.

    Scores of any other shape (a regression output, a dict the framework could not read) give
    ``UNKNOWN_LABEL`` for every sample and the source ``"none"``.

    >>> classes_from_scores(np.array([[0.1, 0.9], [2.0, -1.0]]), 2)
    (array([1, 0]), 'predicted')
    >>> classes_from_scores(np.zeros((2, 1)), 2)
    (array([-1, -1]), 'none')
    """
    if scores is None or scores.ndim != 2 or scores.shape[0] != count or scores.shape[1] < 2:
        return np.full(count, UNKNOWN_LABEL, np.int64), LABELS_NONE
    return scores.argmax(axis=1).astype(np.int64), LABELS_PREDICTED


def weight_view_bytes(layout: str, shape: Sequence[int], axes: str, max_channels: int) -> int:
    """Bytes one layer writes per sample step (both views, float32), from its weight's shape alone.

    >>> weight_view_bytes("matrix", (4096, 1024), "oi", 16)  # pooled: 2 x (256 x 256) per view
    1048576
    >>> weight_view_bytes("kernel", (64, 3, 3, 3), "oik", 16)
    3456
    """
    if layout == MATRIX:
        rows, cols = (shape[1], shape[0]) if axes == "io" else (shape[0], shape[1])
        if rows <= MAX_MATRIX_SIDE and cols <= MAX_MATRIX_SIDE:
            return 2 * 4 * rows * cols
        cells = math.ceil(rows / math.ceil(rows / MAX_MATRIX_SIDE)) * math.ceil(
            cols / math.ceil(cols / MAX_MATRIX_SIDE)
        )
        return 2 * 4 * 2 * cells
    view = kernel_view(np.zeros(shape, np.float32), axes, max_channels)
    return view.nbytes


def choose_weight_layers(
    options: CaptureOptions, sizes: dict[str, int], warn: Callable[[str], None]
) -> list[str]:
    """The layers whose weights are written, from ``{name: weight_view_bytes}`` of every conv and
    dense/linear layer in forward order (see ``CaptureOptions.select_weight_layers``); ``warn`` is
    told, once, which layers the budget leaves out.

    >>> from tb_netviz.summary import CaptureOptions
    >>> said = []
    >>> choose_weight_layers(CaptureOptions(weight_budget_bytes=100), {"conv": 60, "fc": 80}, said.append)
    ['conv']
    >>> "the weights of ['fc'] are not written" in said[0]
    True
    """
    chosen, left_out = options.select_weight_layers(sizes)
    if left_out:
        warn(
            f"tb-netviz: the weights of {left_out} are not written: with the others they exceed "
            f"weight_budget_bytes={options.weight_budget_bytes} per sample step (raise it, or "
            "choose layers with weight_layers=[...])"
        )
    return chosen


class EmbeddingTarget(NamedTuple):
    """The layer whose features on the probe batch are projected: the framework's own object
    (a ``keras.layers.Layer``, an ``nn.Module``), its name, and whether its ``"input"`` or its
    ``"output"`` is read. ``NO_EMBEDDING``: none is."""

    layer: Any
    name: str | None
    of: str


NO_EMBEDDING = EmbeddingTarget(None, None, "output")


def embedding_target(
    options: CaptureOptions,
    batch_size: int | None,
    named: Mapping[str, Any],
    last_dense: tuple[str, Any] | None,
    *,
    kind: str,
    model: str,
) -> EmbeddingTarget:
    """The layer the options project, the same way for every framework.

    An explicit ``embedding_layer`` is ``named[embedding_layer]``, its output. By default it is
    the input of ``last_dense`` (``(name, layer)`` of the last dense/linear weight layer in
    forward order, or None), i.e. the penultimate representation. ``NO_EMBEDDING`` with
    ``embedding=False``, without a probe batch (``batch_size`` None), or by default with one
    sample: PCA needs 2, and a 1-sample probe batch is still good for the other views.

    Args:
        named: every layer of the model by name.
        kind, model: how the error names a layer and the model (``"module"``, ``"the model"``).

    Raises:
        ValueError: an ``embedding_layer`` that is not in ``named`` (the message lists some
            names), or an explicit one with a probe batch of 1 sample.

    >>> from tb_netviz.summary import CaptureOptions
    >>> layers, wording = {"fc": "<fc>", "out": "<out>"}, {"kind": "layer", "model": "the model"}
    >>> embedding_target(CaptureOptions(), 4, layers, ("out", "<out>"), **wording)
    EmbeddingTarget(layer='<out>', name='out', of='input')
    >>> embedding_target(CaptureOptions(embedding_layer="fc"), 4, layers, None, **wording)
    EmbeddingTarget(layer='<fc>', name='fc', of='output')
    """
    if not options.embedding or batch_size is None:
        return NO_EMBEDDING
    chosen = options.embedding_layer
    if chosen is None:
        if last_dense is None or batch_size < 2:
            return NO_EMBEDDING
        return EmbeddingTarget(last_dense[1], last_dense[0], "input")
    if chosen not in named:
        shown = ", ".join(list(named)[:8]) + (", ..." if len(named) > 8 else "")
        raise ValueError(f"embedding_layer {chosen!r} is no {kind} of {model}; {kind}s are: {shown}")
    if batch_size < 2:
        raise ValueError(
            f"the probe batch has {batch_size} sample(s) and PCA needs at least 2; "
            "pass a few more samples in sample_batch"
        )
    return EmbeddingTarget(named[chosen], chosen, "output")


class WeightSeries:
    """One layer's weights over the sample steps; ``w_0`` is its first step's weights.

    Args:
        layer: the layer name.
        layout: ``"kernel"`` or ``"matrix"``.
        axes: the framework's axis order (``KERNEL_AXES`` / ``MATRIX_AXES``).
        max_channels: output and input channels kept of a kernel.

    Raises:
        ValueError: an unknown layout or axes.
    """

    def __init__(self, layer: str, layout: str, axes: str, max_channels: int = 16) -> None:
        metadata.weights_tag(layer)
        if layout not in (KERNEL, MATRIX):
            raise ValueError(f"layout must be {KERNEL!r} or {MATRIX!r}, got {layout!r}")
        allowed = KERNEL_AXES if layout == KERNEL else MATRIX_AXES
        if axes not in allowed:
            raise ValueError(f"{layout} axes must be one of {allowed}, got {axes!r}")
        self.layer, self.layout, self.axes, self.max_channels = layer, layout, axes, max_channels
        self._initial: np.ndarray | None = None
        self._first_step: int | None = None

    def values(self, step: int, weights: np.ndarray) -> list[Value]:
        """The summaries of ``weights`` (the layer's raw kernel or matrix) at ``step``."""
        weights = np.asarray(weights, np.float32)
        if self._initial is None:
            self._initial, self._first_step = weights.copy(), int(step)
        if weights.shape != self._initial.shape:
            raise ValueError(
                f"the weights of layer {self.layer!r} changed shape from {self._initial.shape} "
                f"to {weights.shape}; the change since the first step cannot be shown"
            )
        now, change = self._view(weights), self._view(weights - self._initial)
        content = {
            "layer": self.layer,
            **now.content,
            "views": list(WEIGHT_VIEWS),
            "first_step": self._first_step,
        }
        md = metadata.create_summary_metadata(metadata.WEIGHTS, **content)
        stacked = np.stack([now.values, change.values])
        values = [_float_tensor_value(metadata.weights_tag(self.layer), md, stacked)]
        scale = diverging_scale(now.values)
        picture_tag = metadata.WEIGHT_IMAGES_TAG_PREFIX + self.layer
        if self.layout == KERNEL:
            values.append(image_value(picture_tag, kernel_grid_image(now.values, scale)))
            if now.content["in_channels"] == 3:
                values.append(
                    image_value(metadata.KERNEL_RGB_TAG_PREFIX + self.layer, rgb_kernels_image(now.values))
                )
        else:
            values.append(image_value(picture_tag, matrix_image(now.values[0], scale)))
        return values

    def _view(self, weights: np.ndarray) -> WeightView:
        if self.layout == KERNEL:
            return kernel_view(weights, self.axes, self.max_channels)
        return matrix_view(weights, self.axes)


class EmbeddingSeries:
    """One layer's features on the probe batch over the sample steps: PCA and Projector export.

    Args:
        layer: the layer name.
        of: ``"output"`` (the layer's output) or ``"input"`` (what the layer was given).
        run_dir: the run directory for the Projector export, or None for no export.
    """

    def __init__(self, layer: str, of: str = "output", run_dir: str | None = None) -> None:
        metadata.embedding_tag(layer)
        if of not in ("input", "output"):
            raise ValueError(f"of must be 'input' or 'output', got {of!r}")
        self.layer, self.of = layer, of
        self.projection = EmbeddingProjection()
        self.export = ProjectorExport(run_dir) if run_dir is not None else None

    def values(self, step: int, features: np.ndarray, labels: np.ndarray, label_source: str) -> list[Value]:
        """The ``netviz/embedding/<layer>`` summary of ``[N, D]`` features with one label per sample."""
        features = check_features(features)
        labels = np.asarray(labels)
        if labels.shape != (features.shape[0],):
            raise ValueError(f"the embedding has {features.shape[0]} samples but {labels.shape} labels")
        coords, ratio = self.projection.project(features)
        content = {
            "layer": self.layer,
            "of": self.of,
            "columns": list(EMBEDDING_COLUMNS),
            "samples": int(features.shape[0]),
            "features": int(features.shape[1]),
            "label_source": label_source,
            "last_row": "explained_variance_ratio",
        }
        md = metadata.create_summary_metadata(metadata.EMBEDDING, **content)
        rows = embedding_rows(coords, ratio, labels)
        if self.export is not None:
            self.export.write(step, self.layer, features, projector_columns(labels, label_source))
        return [_float_tensor_value(metadata.embedding_tag(self.layer), md, rows)]


class EmbeddingLog:
    """The embedding of one ``EmbeddingTarget`` as a callback writes it at each sample step:
    each point labelled with its ``sample_labels`` entry when they are given, else with the
    class the model predicts; the series is made at the first write, with a Projector export
    in the writer's run when ``projector``.

    >>> import tempfile
    >>> from tb_netviz.summary import NetVizWriter
    >>> log = EmbeddingLog(EmbeddingTarget(None, "fc", "input"), projector=False)
    >>> with NetVizWriter(tempfile.mkdtemp()) as writer:
    ...     log.write(writer, 0, np.eye(3), None, lambda: classes_from_scores(np.eye(3), 3))
    True
    """

    def __init__(self, target: EmbeddingTarget, projector: bool) -> None:
        self.target = target
        self.projector = projector
        self._series: EmbeddingSeries | None = None

    def write(
        self,
        writer: NetVizWriter,
        step: int,
        features: np.ndarray,
        labels: np.ndarray | None,
        predicted: Callable[[], tuple[np.ndarray, str]],
    ) -> bool:
        """Queue ``[N, D]`` host ``features`` with ``labels``, or else ``predicted()`` (the
        classes and their label source, read only then). Returns what ``writer.embedding`` does."""
        point_labels, source = (labels, LABELS_GIVEN) if labels is not None else predicted()
        if self._series is None:
            run_dir = writer.log_dir if self.projector else None
            self._series = EmbeddingSeries(self.target.name, self.target.of, run_dir)
        return writer.embedding(step, self._series, features, point_labels, source)


def projector_columns(labels: np.ndarray, label_source: str) -> dict[str, list[Any]]:
    """The Projector metadata columns: the sample index and its label, named by where it came from.

    >>> projector_columns(np.array([3, 1]), "predicted")
    {'sample': [0, 1], 'predicted': [3, 1]}
    """
    return {"sample": list(range(len(labels))), label_source: [int(v) for v in labels]}
