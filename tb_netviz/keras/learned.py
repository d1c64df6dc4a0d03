"""What a Keras model has learned: its kernels and weight matrices, and an embedding of the probe batch.

Keras keeps a convolution kernel as ``[*k, in, out]`` whatever the layer's
``data_format`` (a transposed convolution as ``[*k, out, in]``) and a ``Dense``
kernel as ``[in, out]``; ``tb_netviz.summary.weights`` brings both to the same
layout as torch (``[out, in, kh, kw]`` tiles, ``[out, in]`` matrices), so a
Keras and a torch run of one architecture draw alike. The embedding is the
chosen layer's output flattened per sample, or, by default, the input of the
last ``Dense`` layer in forward order (the penultimate representation).

Example:
    >>> import keras
    >>> from tb_netviz.keras.layers import weight_layers
    >>> from tb_netviz.summary import CaptureOptions
    >>> model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, name="conv"),
    ...     keras.layers.Flatten(), keras.layers.Dense(8, name="fc"), keras.layers.Dense(2, name="out")])
    >>> views = LearnedViews(weight_layers(model), model, CaptureOptions(), batch_size=4, warn=print)
    >>> views.weight_layers, views.embedding_name, views.embedding_of
    (['conv', 'fc', 'out'], 'out', 'input')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from tb_netviz.keras.layers import WeightLayer, layer_name
from tb_netviz.keras.probe import run_probe
from tb_netviz.summary import CaptureOptions, NetVizWriter
from tb_netviz.summary.learned import (
    EmbeddingLog,
    WeightSeries,
    choose_weight_layers,
    classes_from_scores,
    embedding_target,
    weight_view_bytes,
)
from tb_netviz.summary.weights import KERNEL, MATRIX

_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)


class LearnedViews:
    """The weight layers and the embedding layer of one Keras model, and their series over the steps.

    Args:
        layers: the model's weight layers in forward order.
        model: the model.
        options: ``weight_layers``, ``weight_budget_bytes``, ``max_channels``,
            ``embedding``, ``embedding_layer``, ``projector``.
        batch_size: the probe batch's sample count (None without a probe batch).
        warn: called with a message for the layers the budget leaves out.

    Raises:
        ValueError: a ``weight_layers`` pattern that matches no conv or dense layer, an
            ``embedding_layer`` that is no layer of the model, or an explicit
            ``embedding_layer`` with a probe batch of fewer than 2 samples (the
            default embedding is then simply not written).
    """

    def __init__(
        self,
        layers: Sequence[WeightLayer],
        model: keras.Model,
        options: CaptureOptions,
        batch_size: int | None,
        warn: Callable[[str], None],
    ) -> None:
        self.options = options
        kinds = {layer.name: (layer.layer, _weight_kind(layer.layer)) for layer in layers}
        kinds = {name: found for name, found in kinds.items() if found[1] is not None}
        self._layers = {name: found[0] for name, found in kinds.items()}
        sizes = {
            name: weight_view_bytes(layout, tuple(layer.kernel.shape), axes, options.max_channels)
            for name, (layer, (layout, axes)) in kinds.items()
        }
        self.weight_layers = choose_weight_layers(options, sizes, warn)
        self._series = {
            name: WeightSeries(name, *kinds[name][1], options.max_channels) for name in self.weight_layers
        }
        named = {layer_name(layer, model): layer for layer in model._flatten_layers(include_self=False)}
        dense = [(layer.name, layer.layer) for layer in layers if isinstance(layer.layer, keras.layers.Dense)]
        target = embedding_target(
            options,
            batch_size,
            named,
            dense[-1] if dense else None,
            kind="layer",
            model=f"model {model.name!r}",
        )
        self.embedding_layer, self.embedding_name, self.embedding_of = target
        self._embedding = EmbeddingLog(target, options.projector)

    @property
    def probe_embedding(self) -> tuple[keras.layers.Layer, str] | None:
        """What ``run_probe`` should keep for the embedding: ``(layer, "input" | "output")``."""
        return None if self.embedding_layer is None else (self.embedding_layer, self.embedding_of)

    def write_weights(self, writer: NetVizWriter, step: int) -> None:
        """Queue every chosen layer's current kernel (one host copy each)."""
        for name in self.weight_layers:
            writer.weights(step, self._series[name], self._layers[name].kernel.numpy())

    def write_embedding(
        self, writer: NetVizWriter, step: int, features: Any, output: Any, labels: np.ndarray | None
    ) -> None:
        """Queue the embedding of ``features`` with ``labels`` (the ``sample_labels``) when
        given, else the predicted classes read from the model's ``output``.

        Raises:
            ValueError: ``features`` is not one tensor.
        """
        if self.embedding_layer is None:
            return
        flat = embedding_array(features, self.embedding_name)
        self._embedding.write(writer, step, flat, labels, lambda: predicted_classes(output, flat.shape[0]))


def check_embedding_output(model: keras.Model, sample_batch: Any, views: LearnedViews) -> None:
    """Run the probe batch once and raise a ValueError if an explicit embedding layer's output
    is not one tensor (checked when ``fit`` starts, not at the first sample step)."""
    if views.options.embedding_layer is None or views.embedding_layer is None:
        return
    found = run_probe(model, sample_batch, [], [], embedding=views.probe_embedding).embedding
    embedding_array(found, views.embedding_name)


def embedding_array(features: Any, layer: str | None) -> np.ndarray:
    """``features`` as a float32 ``[N, D]`` host array, or a ValueError if it is not one tensor.

    >>> embedding_array(np.ones((2, 3, 4)), "conv").shape
    (2, 12)
    >>> embedding_array((np.ones((2, 3)), np.ones((2, 3))), "lstm")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the embedding layer 'lstm' gives a tuple, not a tensor: ...
    """
    if isinstance(features, (tuple, list, dict)) or features is None or not hasattr(features, "shape"):
        raise ValueError(
            f"the embedding layer {layer!r} gives a {type(features).__name__}, not a tensor: choose a "
            "layer whose output is one tensor with embedding_layer=..."
        )
    array = np.asarray(features, np.float32)
    if array.ndim < 1:
        raise ValueError(f"the embedding layer {layer!r} gives a scalar, not one value per sample")
    return array.reshape(array.shape[0], -1)


def predicted_classes(output: Any, count: int) -> tuple[np.ndarray, str]:
    """The argmax class of each sample from a ``[N, classes]`` model output, and the label source.

    >>> predicted_classes(np.array([[0.1, 0.9], [2.0, -1.0]]), 2)
    (array([1, 0]), 'predicted')
    """
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    scores = None if isinstance(output, dict) or not hasattr(output, "shape") else np.asarray(output)
    return classes_from_scores(scores, count)


def _weight_kind(layer: keras.layers.Layer) -> tuple[str, str] | None:
    kernel = getattr(layer, "kernel", None)
    if kernel is None or not hasattr(kernel, "shape"):
        return None
    if isinstance(layer, _TRANSPOSED) and len(kernel.shape) in (3, 4, 5):
        return KERNEL, "koi"
    if isinstance(layer, _CONVOLUTIONS) and len(kernel.shape) in (3, 4, 5):
        return KERNEL, "kio"
    if isinstance(layer, keras.layers.Dense) and len(kernel.shape) == 2:
        return MATRIX, "io"
    return None
