"""The probe pass: one inference forward pass on ``sample_batch`` that sees inside the model.

The layers' own ``call`` is intercepted on the instances for the duration of
the pass (restored after), so it works the same for Sequential, Functional and
subclassed models and needs no side model. Each watched layer's output at its
first call is kept; each ``MultiHeadAttention`` is asked for its attention
scores as well, and its caller still gets what it asked for.

Example:
    >>> import keras, numpy as np
    >>> from tb_netviz.keras.layers import weight_layers
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="fc")])
    >>> result = run_probe(model, np.ones((2, 4), np.float32), weight_layers(model), [])
    >>> result.outputs["fc"].shape
    (2, 3)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from tb_netviz.keras.layers import WeightLayer, intercepting_calls
from tb_netviz.summary.columns import ACTIVATION_STATS

CONV_LAYER_TYPES = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)


@dataclasses.dataclass
class ProbeResult:
    """What one probe pass saw: layer outputs (host arrays) and attention scores ``[B, H, Q, K]``."""

    outputs: dict[str, np.ndarray]
    attention: dict[str, np.ndarray]
    embedding: Any = None  # the embedding layer's first input or output, as it was given
    prediction: Any = None  # the model's output (for the embedding's predicted classes)


def run_probe(
    model: keras.Model,
    sample_batch: Any,
    layers: Sequence[WeightLayer],
    attention_layers: Sequence[tuple[str, keras.layers.MultiHeadAttention]],
    embedding: tuple[keras.layers.Layer, str] | None = None,
) -> ProbeResult:
    """Run ``model(sample_batch, training=False)`` once and collect what the views need.

    ``embedding`` is ``(layer, "input" | "output")``: that layer's first input or
    output is kept too, with the model's output.
    """
    outputs: dict[str, np.ndarray] = {}
    scores: dict[str, np.ndarray] = {}
    name_of = {id(layer.layer): layer.name for layer in layers}
    attention_name_of = {id(layer): name for name, layer in attention_layers}

    def keep_output(layer: Any, call: Any, args: tuple, kwargs: dict) -> Any:
        result = call(*args, **kwargs)
        name = name_of[id(layer)]
        if name not in outputs:
            outputs[name] = _first_tensor(result)
        return result

    def keep_scores(layer: Any, call: Any, args: tuple, kwargs: dict) -> Any:
        wanted = kwargs.get("return_attention_scores", False)
        output, attention = call(*args, **{**kwargs, "return_attention_scores": True})
        scores.setdefault(attention_name_of[id(layer)], np.asarray(attention))
        return (output, attention) if wanted else output

    kept: list[Any] = []

    def keep_embedding(layer: Any, call: Any, args: tuple, kwargs: dict) -> Any:
        result = call(*args, **kwargs)
        if not kept:
            kept.append(args[0] if embedding[1] == "input" else result)
        return result

    watched = [embedding[0]] if embedding is not None else []
    with intercepting_calls(watched, keep_embedding):
        with intercepting_calls([layer.layer for layer in layers], keep_output):
            with intercepting_calls([layer for _, layer in attention_layers], keep_scores):
                prediction = model(sample_batch, training=False)
    if embedding is None:
        return ProbeResult(outputs, scores)
    return ProbeResult(outputs, scores, kept[0] if kept else None, prediction)


def activation_statistics(output: np.ndarray, unit_axis: int = -1) -> np.ndarray:
    """One row of ``ACTIVATION_STATS`` for a layer's output on the probe batch.

    As defined in ``tb_netviz.summary.columns``: mean, population std and max
    |x| over the finite entries only (NaN if there is none); the zero fraction
    over all entries; NaN and Inf entries counted in ``act_nonfinite``.
    ``act_dead_frac`` is the fraction of units along ``unit_axis`` (the channel
    axis: last for Keras's channels_last) that are exactly zero for every
    sample and position.

    >>> x = np.array([[0.0, 1.0], [0.0, -3.0]])
    >>> dict(zip(ACTIVATION_STATS, activation_statistics(x).round(3)))["act_dead_frac"]
    np.float64(0.5)
    >>> row = dict(zip(ACTIVATION_STATS, activation_statistics(np.array([[np.nan, 2.0], [0.0, -4.0]]))))
    >>> float(row["act_mean"]), float(row["act_max_abs"]), float(row["act_nonfinite"])
    (-0.6666666666666666, 4.0, 1.0)
    """
    values = np.asarray(output, dtype=np.float64)
    if values.ndim < 2:
        values = values.reshape(-1, 1)
    units = np.moveaxis(values, unit_axis, -1).reshape(-1, values.shape[unit_axis])
    finite_mask = np.isfinite(values)
    finite = values[finite_mask]
    has_finite = finite.size > 0
    with np.errstate(invalid="ignore", over="ignore"):
        columns = {
            "act_mean": finite.mean() if has_finite else np.nan,
            "act_std": finite.std(ddof=0) if has_finite else np.nan,
            "act_zero_frac": np.mean(values == 0),
            "act_dead_frac": np.mean(np.all(units == 0, axis=0)),
            "act_max_abs": np.abs(finite).max() if has_finite else np.nan,
            "act_nonfinite": values.size - finite.size,
        }
    return np.array([columns[name] for name in ACTIVATION_STATS], dtype=np.float64)


def channel_axis(layer: keras.layers.Layer) -> int:
    """The axis of a layer's output that holds its units (channels)."""
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def feature_maps(layer: keras.layers.Layer, output: np.ndarray) -> np.ndarray | None:
    """The first sample's feature maps channels-first (``[C, L]``, ``[C, H, W]``, ``[C, D, H, W]``).

    None for a layer that is not a convolution.
    """
    if not isinstance(layer, CONV_LAYER_TYPES) or output.ndim not in (3, 4, 5):
        return None
    sample = output[0]
    return sample if channel_axis(layer) == 1 else np.moveaxis(sample, -1, 0)


def first_sample(batch: Any) -> Any:
    """The first sample of a batch (an array, or a dict / list / tuple of arrays)."""
    return keras.tree.map_structure(lambda x: np.asarray(x)[0], batch)


def _first_tensor(result: Any) -> np.ndarray:
    return np.asarray(keras.tree.flatten(result)[0])
